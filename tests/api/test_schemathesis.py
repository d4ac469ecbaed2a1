"""schemathesis against the API on a live server that talks to the live emulator: every
operation of the schema the API serves at /api/schema/, with a bounded, seeded and
deterministic number of requests each, as an editor and as an admin. No server errors, and
no response that breaks the schema (status codes, content types, headers, bodies); invalid
requests refused, valid ones accepted, a method the schema does not list answered 405, and
a request without credentials refused.

Path parameters name real data half of the time, so requests get past the 404s: the
read-only `browse` archive for reads, and image sets of the shared `scratch` data store,
made for this test, for the operations that queue edits and reverts, so the archive never
gets an edit queued. Queued edits reach neither the archive nor the emulator at all: no
worker runs here, so queueing only writes a row (flushed with the test database) and sends
a message to this test's Redis (emptied after it); the test checks that no update reached
the emulator.
"""

import re
import time

import pytest
import redis
from django.utils import timezone

from apps.accounts import tokens
from apps.accounts.roles import ADMIN, EDITOR
from apps.accounts.services import set_role
from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from tests.api import schemathesis_support
from tests.support.edits import change_behind_the_portals_back
from tests.support.emulator import emulator_calls, fresh_image_sets

pytestmark = pytest.mark.emulator

SEED = 20_250_601
# Per operation, in the fuzzing phase; the coverage phase adds the cases it derives from
# the schema (boundaries, each constraint broken once, unlisted methods, no credentials).
MAX_EXAMPLES = 25
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "rule_refusals_only",  # ours: see schemathesis_support
)
# Left out: use_after_free, ensure_resource_availability and object_level_authorization
# follow resources across requests and identities (the stateful phase, off here): the API
# deletes nothing, and the role matrix is test_permissions' job.
#
# What a valid request may be answered besides a 2xx, and why that is right:
# 403: the editor's role does not include reverts or the audit log;
# 404: an ID of the right shape that names nothing (most generated IDs), or a page or
#      version past the last;
# 409: the image set already has an edit in progress (after the run's first accepted
#      edit of it), or the edit or the version asked for is not in a state that allows it
#      (re-applying an edit that succeeded, reverting to the latest version).
# The operations in schemathesis_support.RULE_OPERATIONS may also answer 400, for one of
# their rules that no schema can state, and only for one of those.
ACCEPTED = ["2xx", "403", "404", "409"]
SUPPLIED_PATH_PARAMETERS = {"datastore_id", "image_set_id", "edit_id"}


@pytest.fixture
def scratch(healthimaging):
    """Image sets the run may queue edits and reverts of (0-4), and three that the test's
    own edits are about (5-7). 0, 1, 2 and 5 are at version 2: they can be reverted, and
    an edit made on version 1 of 5 is in conflict."""
    datastore_id, image_set_ids = fresh_image_sets(healthimaging, 8)
    for index in (0, 1, 2, 5):
        change_behind_the_portals_back(datastore_id, image_set_ids[index])
    return datastore_id, image_set_ids


@pytest.fixture
def empty_broker_after(broker):
    """The edits the run queues leave no message for a later test's worker."""
    yield broker
    redis.Redis.from_url(broker.url).flushdb()


@pytest.fixture
def no_rate_limits(settings):
    """The run sends over a thousand requests a minute, which the per-user limits (tested
    in test_errors) would turn into 429s."""
    settings.API_READ_RATE = settings.API_WRITE_RATE = "100000 per minute"


def edits_of(user, datastore_id, image_set_ids):
    """An edit of `user`'s in each state the edit operations treat differently."""
    change = AttributeChange(
        "Study", "StudyDescription", "CHANGED BY SOMEONE ELSE", "SCHEMATHESIS"
    )
    states = (
        MetadataEdit.Status.CONFLICT,  # can be re-applied
        MetadataEdit.Status.TIMED_OUT,  # can be checked again
        MetadataEdit.Status.SUCCEEDED,  # neither: 409
    )
    return [
        MetadataEdit.objects.create(
            requested_by=user,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=1,
            changes=[change.as_json()],
            reason="Made by the schemathesis test",
            status=status,
            finished_at=timezone.now(),
        )
        for image_set_id, status in zip(image_set_ids, states, strict=True)
    ]


def run_config(*, base_url, token, browse, scratch, edit_ids) -> dict:
    """The run, as it would read in schemathesis.toml."""
    browse_id, browse_sets = browse
    scratch_id, scratch_sets = scratch
    real = 0.5  # how often a path parameter names real data

    def sometimes(dictionary, probability=real):
        return {"dictionary": dictionary, "probability": probability}

    return {
        "seed": SEED,
        "cache": {"enabled": False},  # nothing written to the working directory
        "base-url": base_url,
        # A connection per request: on a kept-alive connection Django's test server leaves
        # each response waiting 40 ms for a delayed ACK.
        "headers": {"Authorization": f"Bearer {token}", "Connection": "close"},
        "workers": 1,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            **{name: {"enabled": True} for name in CHECKS},
            "positive_data_acceptance": {
                "enabled": True,
                "expected-statuses": ACCEPTED,
            },
        },
        "dictionaries": {
            "browse_datastore": {"values": [browse_id]},
            "browse_image_sets": {"values": browse_sets[:5]},
            "scratch_datastore": {"values": [scratch_id]},
            "scratch_image_sets": {"values": scratch_sets[:5]},
            "edits": {"values": edit_ids},
            "levels": {"values": ["Study"]},
            "attributes": {"values": ["StudyDescription"]},
            "earlier_versions": {"values": [1]},
        },
        # Our own edits only: reading or queueing them changes nothing outside this test.
        "parameters": {"path.edit_id": sometimes("edits")},
        "operations": [
            {
                # Reads only, for the archive: no operation but a GET ever names it.
                "include-method": "GET",
                "exclude-operation-id": ["image_sets_diff"],
                "parameters": {
                    "path.datastore_id": sometimes("browse_datastore"),
                    "path.image_set_id": sometimes("browse_image_sets"),
                },
            },
            {
                # A diff needs two versions: half the scratch image sets have them.
                "include-operation-id": ["image_sets_diff"],
                "parameters": {
                    "path.datastore_id": sometimes("scratch_datastore"),
                    "path.image_set_id": sometimes("scratch_image_sets"),
                    "query.from": sometimes("earlier_versions", 0.7),
                },
            },
            {
                # These queue changes of the image set they name.
                "include-operation-id": ["edits_create", "reverts_create"],
                "parameters": {
                    "path.datastore_id": sometimes("scratch_datastore"),
                    "path.image_set_id": sometimes("scratch_image_sets"),
                    # Often enough, a change the rules accept and a version to revert to.
                    "body.changes[*].level": sometimes("levels", 0.7),
                    "body.changes[*].attribute": sometimes("attributes", 0.7),
                    "body.revert_to_version": sometimes("earlier_versions", 0.7),
                },
            },
            {
                "include-operation-id": list(schemathesis_support.RULE_OPERATIONS),
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            *ACCEPTED,
                            str(schemathesis_support.RULE_STATUS),
                        ]
                    }
                },
            },
        ],
    }


@pytest.mark.parametrize("role", [EDITOR, ADMIN])
def test_schemathesis_finds_no_server_error_and_no_response_that_breaks_the_schema(
    role,
    live_server,
    transactional_db,
    healthimaging,
    browse_archive,
    scratch,
    empty_broker_after,
    no_rate_limits,
    django_user_model,
):
    user = django_user_model.objects.create_user(f"schemathesis-{role}")
    set_role(user, role)
    _, token = tokens.token_create(
        user=user, name="schemathesis", expires_in_days=1, request=None
    )
    scratch_id, scratch_sets = scratch
    edits = edits_of(user, scratch_id, scratch_sets[5:])
    schema = schemathesis_support.load_schema(
        f"{live_server.url}/api/schema/?format=json",
        headers={"Authorization": f"Bearer {token}"},
        config=run_config(
            base_url=live_server.url,
            token=token,
            browse=browse_archive,
            scratch=scratch,
            edit_ids=[str(edit.pk) for edit in edits],
        ),
    )
    operations = {operation.ok().label for operation in schema.get_all_operations()}
    started = time.time()

    result = schemathesis_support.run(schema)

    print(f"\nschemathesis as {role}: {result.summary()}")  # noqa: T201
    assert not result.failures, result.report()
    assert not result.errors, result.report()
    assert operations
    assert result.operations == operations
    assert result.cases >= len(operations) * MAX_EXAMPLES
    assert set(CHECKS) <= result.checks
    by_operation = result.statuses_by_operation
    # Real data was reached: every operation the role may use (test_permissions checks
    # which) whose path names only what the run supplies read something, or found an
    # image set or edit to queue a change of (which may be busy by then: 409).
    refused = {  # 403, or 404 from the URLs before the role is checked
        label
        for label, statuses in by_operation.items()
        if 403 in statuses and set(statuses) <= {403, 404}
    }
    reached = {
        label
        for label, statuses in by_operation.items()
        if any(
            200 <= code < 300 or (code == 409 and label.startswith("POST"))
            for code in statuses
        )
    }
    supplied = {
        label
        for label in operations - refused
        if set(re.findall(r"{(\w+)}", label)) <= SUPPLIED_PATH_PARAMETERS
    }
    assert reached >= supplied, by_operation
    # What was queued stayed queued: nothing changed an image set.
    updates = emulator_calls(healthimaging.url, operation="UpdateImageSetMetadata")
    assert [call for call in updates if call["at"] >= started] == []

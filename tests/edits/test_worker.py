"""Edits applied by real `celery worker` processes through a real Redis, against the live emulator.

Every wait is bounded. The live emulator is shared by the session: a config knob a test turns
is put back by `emulator_config`; the per-image-set knobs act on image sets of the test's own.
"""

import datetime
import logging
import re
import time
import uuid

import pytest
import redis
from django.utils import timezone

from apps.edits import services
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.support.edits import (
    UPDATE,
    Status,
    assert_ends,
    base64_runs_decoded,
    change_behind_the_portals_back,
    patient_name,
    queue_name_edit,
    redis_contents,
    statuses_of,
    versions,
    wait_until,
)
from tests.support.emulator import (
    control,
    emulator_calls,
    emulator_config,
    fresh_image_sets,
    lose_next_update_response,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

logger = logging.getLogger(__name__)


@pytest.fixture(autouse=True)
def enqueued_for_real(caplog):
    """Every enqueue from this process must reach Redis: the reconciler would hide one that
    did not (it re-drives the row), and these tests are about the normal path."""
    yield
    lost = [
        record
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if record.getMessage().startswith("Could not enqueue")
    ]
    assert not lost, "an edit was not enqueued; only the reconciler saved it"


# -- the lifecycle -----------------------------------------------------------------------


def test_a_worker_applies_a_queued_edit(image_sets, editor, start_worker):
    datastore_id, (image_set_id, *_) = image_sets
    start_worker()
    edit = queue_name_edit(editor, datastore_id, image_set_id, "WORKER^APPLIED")

    assert_ends(edit, Status.SUCCEEDED)
    edit.refresh_from_db()
    assert (edit.accepted_version, edit.attempts) == (2, 1)
    assert patient_name(datastore_id, image_set_id) == "WORKER^APPLIED"
    assert versions(datastore_id, image_set_id) == [2, 1]


def test_a_failure_injected_by_the_emulator_ends_failed_with_its_message(
    image_sets, editor, start_worker, healthimaging
):
    datastore_id, (image_set_id, *_) = image_sets
    message = f"INVALID_REQUEST: injected by the worker test {uuid.uuid4().hex[:8]}"
    control(
        healthimaging.url,
        f"image-sets/{image_set_id}/fail-next-update",
        {"message": message},
    )
    start_worker()
    edit = queue_name_edit(editor, datastore_id, image_set_id, "FAIL^ME")

    assert_ends(edit, Status.FAILED)
    assert message in edit.message
    assert edit.accepted_version == 2  # HealthImaging took it, then failed it
    assert patient_name(datastore_id, image_set_id) != "FAIL^ME"


def test_a_stale_version_ends_in_conflict_and_reapplying_succeeds(
    image_sets, editor, start_worker
):
    datastore_id, (image_set_id, *_) = image_sets
    # Queued while no worker runs: the message waits in Redis.
    edit = queue_name_edit(editor, datastore_id, image_set_id, "MINE^EDIT")
    change_behind_the_portals_back(datastore_id, image_set_id)
    gateway = get_gateway()
    wait_until(
        lambda: gateway.get_image_set(datastore_id, image_set_id).is_settled,
        timeout=10,
        what="the other write settled",
    )
    start_worker()

    assert_ends(edit, Status.CONFLICT)
    assert edit.attempts == 1
    assert versions(datastore_id, image_set_id) == [2, 1]  # nothing overwritten

    again = services.reapply_edit(edit=edit, user=editor, request=None)
    assert again.base_version == 2
    assert_ends(again, Status.SUCCEEDED)
    again.refresh_from_db()
    assert again.accepted_version == 3
    document = gateway.get_image_set_metadata(datastore_id, image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == "MINE^EDIT"
    assert document["Study"]["DICOM"]["StudyDescription"] == "CHANGED BY SOMEONE ELSE"


# -- throttling, lost answers ------------------------------------------------------------


def test_every_other_call_throttled_still_succeeds_with_one_new_version(
    image_sets, editor, start_worker, healthimaging
):
    """Every operation's odd-numbered calls answered 429, so after the first call of each
    operation every logical call's first attempt is refused: the SDK's retries (standard
    mode, 3 attempts) and, past them, the job's own backoff carry every edit through."""
    datastore_id, image_set_ids = image_sets
    start_worker()
    with emulator_config(healthimaging.url, throttleShare=0.5, throttleOperations=None):
        edits = [
            queue_name_edit(editor, datastore_id, image_set_id, f"THROTTLED^{number}")
            for number, image_set_id in enumerate(image_set_ids)
        ]
        for edit in edits:
            assert_ends(edit, Status.SUCCEEDED)
        calls = [
            call
            for image_set_id in image_set_ids
            for call in emulator_calls(healthimaging.url, image_set_id=image_set_id)
        ]

    for operation in (UPDATE, "GetImageSet"):  # the worker's calls
        refused = [
            c for c in calls if c["operation"] == operation and c["status"] == 429
        ]
        assert refused, f"no {operation} call was throttled"
    for number, image_set_id in enumerate(image_set_ids):
        updates = [
            call
            for call in calls
            if call["operation"] == UPDATE and call["imageSetId"] == image_set_id
        ]
        assert statuses_of(updates).count(200) == 1
        assert versions(datastore_id, image_set_id) == [2, 1]
        assert patient_name(datastore_id, image_set_id) == f"THROTTLED^{number}"


def test_updates_throttled_for_seconds_wait_with_backoff_then_succeed(
    image_sets, editor, start_worker, healthimaging
):
    """Every update refused for ~3 s: the SDK gives up, the job waits (backoff with jitter,
    no worker slot held) and sends again once the throttling lifts."""
    datastore_id, (image_set_id, *_) = image_sets
    start_worker()
    with emulator_config(
        healthimaging.url, throttleShare=1.0, throttleOperations=[UPDATE]
    ):
        edit = queue_name_edit(editor, datastore_id, image_set_id, "THROTTLED^BURST")
        wait_until(
            lambda: emulator_calls(
                healthimaging.url, operation=UPDATE, image_set_id=image_set_id
            ),
            timeout=10,
            what="a first update",
        )
        time.sleep(3)
        edit.refresh_from_db()
        assert edit.status == Status.QUEUED, edit.message
        lifted_at = time.time()

    assert_ends(edit, Status.SUCCEEDED)
    updates = emulator_calls(
        healthimaging.url, operation=UPDATE, image_set_id=image_set_id
    )
    refused = [call for call in updates if call["status"] == 429]
    accepted = [call for call in updates if call["status"] == 200]
    assert len(refused) >= 3  # at least one logical call, all its SDK attempts refused
    assert len(accepted) == 1
    assert accepted[0]["at"] >= lifted_at
    assert edit.attempts >= 2  # the job itself came back and sent again
    assert versions(datastore_id, image_set_id) == [2, 1]


def test_a_lost_response_ends_succeeded_not_conflict_with_one_new_version(
    image_sets, editor, start_worker, healthimaging
):
    """The update is applied but its answer held past the worker's 1 s read timeout: the
    SDK's retry hears "not the latest", and the job recognises its own write."""
    datastore_id, (image_set_id, *_) = image_sets
    lose_next_update_response(healthimaging.url, image_set_id, hold_seconds=2)
    start_worker(overrides={"HEALTHIMAGING_TIMEOUT_SECONDS": "1"})
    edit = queue_name_edit(editor, datastore_id, image_set_id, "LOST^ANSWER")

    assert_ends(edit, Status.SUCCEEDED)
    assert edit.accepted_version == 2
    assert versions(datastore_id, image_set_id) == [2, 1]
    updates = emulator_calls(
        healthimaging.url, operation=UPDATE, image_set_id=image_set_id
    )
    # The applied one (its answer lost), then the retry told "not the latest".
    assert statuses_of(updates) == [200, 404]
    assert patient_name(datastore_id, image_set_id) == "LOST^ANSWER"


# -- crashes and lost messages -----------------------------------------------------------


def test_a_worker_killed_while_following_an_edit_leaves_it_to_the_next(
    image_sets, editor, start_worker, healthimaging, record_property
):
    """SIGKILL of the worker's whole process group while the job follows its accepted
    update; a new worker's reconciler re-drives the row, and the update is never re-sent.

    The kill lands between two steps (the row holds no lease): a step killed mid-way keeps
    its lease for LEASE_SECONDS (150 s) before anyone may take the job again. Should the kill
    still land mid-step, the test moves that lease's expiry to now, standing in for the wait.
    """
    datastore_id, (image_set_id, *_) = image_sets
    with emulator_config(healthimaging.url, updateDelaySeconds=4):
        first = start_worker(name="first")
        edit = queue_name_edit(editor, datastore_id, image_set_id, "KILLED^MIDWAY")

        def followed_between_steps() -> bool:
            edit.refresh_from_db()
            return edit.status == Status.UPDATING and edit.lease is None

        wait_until(
            followed_between_steps, timeout=15, what="followed, no lease", poll=0.01
        )
        first.kill()
        killed_at = time.monotonic()
        edit.refresh_from_db()
        assert edit.status == Status.UPDATING
        mid_step = edit.lease is not None
        if mid_step:
            MetadataEdit.objects.filter(pk=edit.pk).update(
                lease_expires_at=timezone.now() - datetime.timedelta(seconds=1)
            )
        start_worker(name="second")

        assert_ends(edit, Status.SUCCEEDED, timeout=40)
        recovery = time.monotonic() - killed_at

    record_property("recovery_seconds", round(recovery, 2))
    record_property("kill_mid_step", mid_step)
    logger.info(
        "SIGKILL: recovered in %.1f s (checks %d, kill mid-step: %s)",
        recovery,
        edit.checks,
        mid_step,
    )
    assert edit.attempts == 1
    assert edit.accepted_version == 2
    assert versions(datastore_id, image_set_id) == [2, 1]
    updates = emulator_calls(
        healthimaging.url, operation=UPDATE, image_set_id=image_set_id
    )
    assert statuses_of(updates) == [200]
    assert patient_name(datastore_id, image_set_id) == "KILLED^MIDWAY"


def test_edits_survive_redis_losing_everything(
    image_sets, editor, broker, start_worker
):
    """Three edits queued while no worker runs; Redis then loses every key (a restart
    without persistence). The rows are the truth: the reconciler re-drives them all."""
    datastore_id, image_set_ids = image_sets
    edits = [
        queue_name_edit(editor, datastore_id, image_set_id, f"FLUSHED^{number}")
        for number, image_set_id in enumerate(image_set_ids)
    ]
    client = redis.Redis.from_url(broker.url)
    assert client.llen("celery") == 3
    client.flushall()
    assert client.dbsize() == 0

    start_worker(beat=True)

    for edit in edits:
        assert_ends(edit, Status.SUCCEEDED, timeout=30)
    for number, image_set_id in enumerate(image_set_ids):
        assert versions(datastore_id, image_set_id) == [2, 1]
        assert patient_name(datastore_id, image_set_id) == f"FLUSHED^{number}"


# -- pacing and logs ---------------------------------------------------------------------


def test_updates_are_paced_across_all_workers(editor, start_worker, healthimaging):
    """Two worker processes share one limiter (in Redis): 1 update per 2 s in all."""
    datastore_id, image_set_ids = fresh_image_sets(healthimaging, 4)
    paced = {"HEALTHIMAGING_UPDATE_RATE": "1 per 2 seconds"}
    start_worker(overrides=paced, concurrency=1, beat=True, name="paced-a")
    start_worker(overrides=paced, concurrency=1, beat=False, name="paced-b")
    edits = [
        queue_name_edit(editor, datastore_id, image_set_id, f"PACED^{number}")
        for number, image_set_id in enumerate(image_set_ids)
    ]

    for edit in edits:
        assert_ends(edit, Status.SUCCEEDED, timeout=40)
    sent = sorted(
        call["at"]
        for image_set_id in image_set_ids
        for call in emulator_calls(
            healthimaging.url, operation=UPDATE, image_set_id=image_set_id
        )
        if call["status"] == 200
    )
    assert len(sent) == 4
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 2 - 0.1, gaps


def test_no_patient_data_in_the_worker_log_or_the_broker(
    image_sets, editor, broker, start_worker, healthimaging
):
    """A canary name goes through the worker (applied, and in a service failure message):
    neither it nor the original name and ID shows in the worker's log or in Redis."""
    datastore_id, (image_set_id, failing_id, _) = image_sets
    token = f"ZQX{uuid.uuid4().hex[:10].upper()}"
    canary = f"CANARY^{token}"
    original = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    original_name = original["Patient"]["DICOM"]["PatientName"]
    original_id = original["Patient"]["DICOM"]["PatientID"]
    control(
        healthimaging.url,
        f"image-sets/{failing_id}/fail-next-update",
        {"message": f"INVALID_REQUEST: PatientName {token} refused"},
    )
    edit = queue_name_edit(editor, datastore_id, image_set_id, canary)
    failing = queue_name_edit(editor, datastore_id, failing_id, canary)

    # The messages waiting in Redis carry the edit ids, nothing else.
    stored = redis_contents(redis.Redis.from_url(broker.url))
    assert str(edit.pk).encode() in stored
    assert str(failing.pk).encode() in stored
    for secret in (token, original_name, original_id):
        assert secret.encode() not in stored

    worker = start_worker()
    assert_ends(edit, Status.SUCCEEDED)
    assert_ends(failing, Status.FAILED)
    assert token in failing.message  # the user sees it; the log must not
    worker.stop()

    log = worker.output()
    assert log.count("apps.edits.tasks.advance_edit[") >= 4  # the log of this work
    assert "succeeded in" in log
    assert token not in log
    assert token.encode() not in base64_runs_decoded(log)  # botocore logs blobs base64
    after = redis_contents(redis.Redis.from_url(broker.url))
    for secret in (token, original_name, original_id):
        assert secret.encode() not in after
    assert original_name not in log
    assert not re.search(rf"(?<!\d){re.escape(original_id)}(?!\d)", log)

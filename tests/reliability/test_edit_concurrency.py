"""How many updates are under way at once: one per image set however many people edit it
(R7), and one per 4 s across every worker with HealthImaging's default quota (R11).

Real `celery worker` processes apply the edits through a real Redis against the live
emulator, whose call log (timestamps, and each update's `inFlight`) is what is counted.
"""

import random
import threading
import time

import limits
import pytest
import requests

from apps.accounts import tokens
from apps.accounts.roles import EDITOR
from apps.edits.models import MetadataEdit
from tests.support.canary import PREFIX as CANARY
from tests.support.edits import (
    TERMINAL,
    UPDATE,
    Status,
    patient_name,
    queue_name_edit,
    versions,
    wait_for,
)
from tests.support.emulator import emulator_calls, emulator_config, fresh_image_sets
from tests.support.worker import start_together

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

USERS = 5
EDITS_PER_USER = 10
# HealthImaging's default quota for UpdateImageSetMetadata, the setting's default.
DEFAULT_UPDATE_RATE = "1 per 4 seconds"


def submit_edits(
    portal: str, token: str, image_set_url: str, user: int, outcomes: list[dict]
) -> None:
    """One user's edits, one after another: read the image set's version, think a moment,
    then queue a patient name change against the version read."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for number in range(EDITS_PER_USER):
        version = session.get(f"{portal}{image_set_url}", timeout=30).json()["version"]
        time.sleep(random.uniform(0, 0.6))  # noqa: S311 - pacing, not security
        name = f"{CANARY}USER{user}^EDIT{number}"
        response = session.post(
            f"{portal}{image_set_url}edits/",
            json={
                "changes": [
                    {"level": "Patient", "attribute": "PatientName", "value": name}
                ],
                "reason": "Concurrent corrections",
                "base_version": version,
            },
            timeout=30,
        )
        outcomes.append(
            {"status": response.status_code, "body": response.json(), "name": name}
        )


def test_fifty_concurrent_edits_of_one_image_set_never_overlap_and_lose_nothing(
    live_server, healthimaging, start_worker, make_user, figure
):
    datastore_id, (image_set_id,) = fresh_image_sets(healthimaging, 1)
    image_set_url = f"/api/v1/datastores/{datastore_id}/image-sets/{image_set_id}/"
    users = [
        tokens.token_create(
            user=make_user(EDITOR, username=f"concurrent-{number}"),
            name="R7",
            expires_in_days=None,
            request=None,
        )[1]
        for number in range(USERS)
    ]
    start_together(start_worker, "first", "second", concurrency=2)
    outcomes: list[dict] = []
    # Each update keeps the set LOCKED a while, so an update sent too soon would show.
    with emulator_config(healthimaging.url, updateDelaySeconds=0.3):
        senders = [
            threading.Thread(
                target=submit_edits,
                args=(live_server.url, token, image_set_url, user, outcomes),
            )
            for user, token in enumerate(users)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=90)
        assert not any(sender.is_alive() for sender in senders), "a user still sending"
        accepted = [o for o in outcomes if o["status"] == 202]
        edits = [
            wait_for(MetadataEdit.objects.get(pk=outcome["body"]["id"]), timeout=60)
            for outcome in accepted
        ]

    refused = [
        o
        for o in outcomes
        if o["status"] == 409 and o["body"]["code"] == "edit_in_progress"
    ]
    assert len(outcomes) == USERS * EDITS_PER_USER
    assert len(accepted) + len(refused) == len(outcomes), [
        o for o in outcomes if o not in accepted and o not in refused
    ]
    rows = MetadataEdit.objects.filter(image_set_id=image_set_id).count()
    updates = emulator_calls(
        healthimaging.url, operation=UPDATE, image_set_id=image_set_id
    )
    most_in_flight = max(call["inFlight"] for call in updates)
    succeeded = sorted(
        (edit for edit in edits if edit.status == Status.SUCCEEDED),
        key=lambda edit: edit.accepted_version,
    )
    conflicts = [edit for edit in edits if edit.status == Status.CONFLICT]
    new_versions = len(versions(datastore_id, image_set_id)) - 1
    final_name = patient_name(datastore_id, image_set_id)
    last_name = succeeded[-1].attribute_changes[0].new if succeeded else None

    figure("R7", "edits submitted at once by 5 users", len(outcomes))
    figure(
        "R7",
        "accepted, refused (edit in progress), rows left by refusals",
        f"{len(accepted)}, {len(refused)}, {rows - len(accepted)}",
    )
    figure("R7", "max UpdateImageSetMetadata in flight per image set", most_in_flight)
    figure(
        "R7",
        "accepted edits ending succeeded or conflict",
        f"{len(succeeded) + len(conflicts)}/{len(edits)} "
        f"({len(succeeded)} succeeded, {len(conflicts)} conflict)",
    )
    figure("R7", "new versions, succeeded edits", f"{new_versions}, {len(succeeded)}")
    figure(
        "R7",
        "final PatientName, last succeeded edit's value",
        f"{final_name}, {last_name}",
    )
    assert most_in_flight == 1
    assert rows == len(accepted)
    assert len(succeeded) + len(conflicts) == len(edits)
    assert succeeded, "no edit got through"
    assert new_versions == len(succeeded)
    assert [edit.accepted_version for edit in succeeded] == list(
        range(2, 2 + len(succeeded))
    )
    assert final_name == last_name


def test_updates_keep_the_default_quota_across_two_workers(
    editor, start_worker, healthimaging, figure
):
    """Five edits at once, two workers with the default rate: the updates go one by one,
    at least 4 s apart as HealthImaging's quota counts them (at its end, not ours)."""
    datastore_id, image_set_ids = fresh_image_sets(healthimaging, 5)
    quota = limits.parse(DEFAULT_UPDATE_RATE)
    window = quota.get_expiry()
    default_rate = {"HEALTHIMAGING_UPDATE_RATE": DEFAULT_UPDATE_RATE}
    start_together(start_worker, "paced-a", "paced-b", overrides=default_rate)
    edits = [
        queue_name_edit(editor, datastore_id, image_set_id, f"{CANARY}PACED^{number}")
        for number, image_set_id in enumerate(image_set_ids)
    ]

    for edit in edits:
        wait_for(edit, TERMINAL, timeout=60)
    sent = sorted(
        call["at"]
        for image_set_id in image_set_ids
        for call in emulator_calls(
            healthimaging.url, operation=UPDATE, image_set_id=image_set_id
        )
    )
    most_in_window = max(
        sum(1 for other in sent if start <= other < start + window) for start in sent
    )
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]
    span = sent[-1] - sent[0]

    figure(
        "R11",
        "edits succeeded",
        f"{sum(e.status == Status.SUCCEEDED for e in edits)}/5",
    )
    figure("R11", f"max update calls in any {window} s window", most_in_window)
    figure(
        "R11",
        "update gaps min / mean / max (s)",
        f"{min(gaps):.2f} / {span / len(gaps):.2f} / {max(gaps):.2f}",
    )
    assert all(edit.status == Status.SUCCEEDED for edit in edits)
    assert len(sent) == len(edits), "one update each, none throttled or resent"
    assert most_in_window == 1, gaps
    assert max(gaps) < 3 * window, f"a stall: {gaps}"

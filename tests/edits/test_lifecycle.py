"""The edit lifecycle, one worker step at a time, against the live emulator."""

import datetime
import uuid

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.edits import pacing, services
from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.support.edits import change_behind_the_portals_back, name_change, run_to_end
from tests.support.emulator import control, emulator_config

pytestmark = pytest.mark.django_db(transaction=True)


def queue(editor, datastore_id, image_set_id, changes, *, base_version=1):
    return services.queue_edit(
        user=editor,
        request=None,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=base_version,
        changes=changes,
        force=False,
        reason="Name misspelled at registration",
    )


def test_an_edit_succeeds_and_the_new_value_is_in_the_metadata(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    change = name_change(datastore_id, image_set_id, "DOE^JANE^Q")

    edit = queue(editor, datastore_id, image_set_id, [change])
    assert scheduled == [(str(edit.pk), 0)]
    edit = run_to_end(edit)

    assert edit.status == MetadataEdit.Status.SUCCEEDED
    assert edit.accepted_version == 2
    assert edit.attempts == 1
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == "DOE^JANE^Q"
    actions = list(
        AuditEvent.objects.filter(edit_id=edit.pk)
        .order_by("at")
        .values_list("action", flat=True)
    )
    assert actions == ["edit.queued", "edit.accepted", "edit.succeeded"]


def test_a_second_edit_of_the_same_image_set_is_refused_while_one_is_active(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    change = name_change(datastore_id, image_set_id, "FIRST^EDIT")
    queue(editor, datastore_id, image_set_id, [change])

    with pytest.raises(
        services.EditInProgress, match="already has an edit in progress"
    ):
        queue(editor, datastore_id, image_set_id, [change])
    assert MetadataEdit.objects.count() == 1


def test_an_edit_queued_as_the_active_one_ends_is_accepted_not_a_server_error(
    image_sets, editor, scheduled, monkeypatch
):
    """The race R7 found on PostgreSQL: the constraint refuses the insert, and the edit
    that held the image set ends before the read that would name it."""
    datastore_id, (image_set_id, *_) = image_sets
    first = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "FIRST^EDIT")],
    )
    read_active_edit = services.active_edit

    def first_ends_meanwhile(**image_set):
        MetadataEdit.objects.filter(pk=first.pk).update(
            status=MetadataEdit.Status.SUCCEEDED
        )
        return read_active_edit(**image_set)

    monkeypatch.setattr(services, "active_edit", first_ends_meanwhile)
    second = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "SECOND^EDIT")],
    )

    assert second.status == MetadataEdit.Status.QUEUED
    assert scheduled == [(str(first.pk), 0), (str(second.pk), 0)]
    assert AuditEvent.objects.filter(edit_id=second.pk).count() == 1


def test_a_refusal_that_names_no_active_edit_is_tried_three_times_then_raised(
    image_sets, editor, scheduled, monkeypatch
):
    datastore_id, (image_set_id, *_) = image_sets
    change = name_change(datastore_id, image_set_id, "FIRST^EDIT")
    queue(editor, datastore_id, image_set_id, [change])
    reads = []
    monkeypatch.setattr(
        services, "active_edit", lambda **image_set: reads.append(image_set)
    )

    with pytest.raises(IntegrityError):
        queue(editor, datastore_id, image_set_id, [change])
    assert len(reads) == services.CLAIM_ATTEMPTS == 3
    assert MetadataEdit.objects.count() == 1


def test_an_injected_failure_ends_failed_with_the_service_message(
    image_sets, editor, scheduled, healthimaging
):
    datastore_id, (image_set_id, *_) = image_sets
    control(
        healthimaging.url,
        f"image-sets/{image_set_id}/fail-next-update",
        {"message": "INVALID_REQUEST: injected for the test"},
    )
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "FAIL^ME")],
    )
    edit = run_to_end(edit)

    assert edit.status == MetadataEdit.Status.FAILED
    assert "injected for the test" in edit.message
    assert not edit.can_reapply


def test_a_stale_version_ends_in_conflict_and_reapplying_succeeds(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "MINE^EDIT")],
    )
    change_behind_the_portals_back(datastore_id, image_set_id)
    edit = run_to_end(edit)
    assert edit.status == MetadataEdit.Status.CONFLICT
    assert edit.can_reapply

    again = services.reapply_edit(edit=edit, user=editor, request=None)
    assert again.base_version == 2
    again = run_to_end(again)
    assert again.status == MetadataEdit.Status.SUCCEEDED
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == "MINE^EDIT"
    assert document["Study"]["DICOM"]["StudyDescription"] == "CHANGED BY SOMEONE ELSE"


def lose_the_answer_of_a_send(edit: MetadataEdit, changes, *, fail: str = "") -> None:
    """As if the edit's first send reached HealthImaging and its answer was lost: the
    send is recorded, and the update is applied behind the job's back."""
    MetadataEdit.objects.filter(pk=edit.pk).update(
        first_submitted_at=timezone.now(), attempts=1
    )
    if fail:
        control(
            django_settings.HEALTHIMAGING_ENDPOINT_URL,
            f"image-sets/{edit.image_set_id}/fail-next-update",
            {"message": fail},
        )
    get_gateway().update_image_set_metadata(
        edit.datastore_id,
        edit.image_set_id,
        latest_version=edit.base_version,
        dicom_updates=services.dicom_updates(changes),
    )


def test_a_lost_response_is_recognised_as_the_jobs_own_write(
    image_sets, editor, scheduled
):
    """The update applied, but the job never heard: its next send gets "not the latest",
    and the version after its base carries its change, so it succeeds, once."""
    datastore_id, (image_set_id, *_) = image_sets
    change = name_change(datastore_id, image_set_id, "LOST^ANSWER")
    edit = queue(editor, datastore_id, image_set_id, [change])
    lose_the_answer_of_a_send(edit, [change])
    edit = run_to_end(edit)

    assert edit.status == MetadataEdit.Status.SUCCEEDED
    assert edit.accepted_version == 2
    versions = get_gateway().list_image_set_versions(datastore_id, image_set_id)
    assert [entry.version for entry in versions] == [2, 1]
    assert versions[0].workflow_status == "UPDATED"


def test_a_lost_response_of_an_update_that_failed_ends_failed_not_in_conflict(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    change = name_change(datastore_id, image_set_id, "LOST^AND^FAILED")
    edit = queue(editor, datastore_id, image_set_id, [change])
    lose_the_answer_of_a_send(
        edit, [change], fail="INVALID_REQUEST: refused for the test"
    )
    edit = run_to_end(edit)

    assert edit.status == MetadataEdit.Status.FAILED
    assert "refused for the test" in edit.message
    assert edit.can_reapply  # the content did not change: the same edit may go again


def test_the_same_change_made_by_someone_else_before_the_send_is_a_conflict(
    image_sets, editor, scheduled, monkeypatch
):
    """A version from before the edit was first sent is not the edit's, whatever it holds."""
    monkeypatch.setattr(services, "CLOCK_SKEW", datetime.timedelta(0))
    datastore_id, (image_set_id, *_) = image_sets
    change = name_change(datastore_id, image_set_id, "SAME^CHANGE")
    edit = queue(editor, datastore_id, image_set_id, [change])
    get_gateway().update_image_set_metadata(
        datastore_id,
        image_set_id,
        latest_version=1,
        dicom_updates=services.dicom_updates([change]),
    )
    edit = run_to_end(edit)

    assert edit.status == MetadataEdit.Status.CONFLICT
    assert edit.accepted_version is None


def test_waiting_for_a_locked_set_looks_at_it_instead_of_sending_again(
    image_sets, editor, scheduled, healthimaging
):
    datastore_id, (image_set_id, *_) = image_sets
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "PATIENT^WAITER")],
    )
    with emulator_config(healthimaging.url, updateDelaySeconds=1):
        change_behind_the_portals_back(datastore_id, image_set_id)  # locks it for 1 s
    edit = run_to_end(edit)

    assert edit.status == MetadataEdit.Status.CONFLICT
    assert edit.attempts <= 1  # one send at most: the waits looked, they did not send


def test_an_unreachable_limiter_makes_the_edit_wait_not_fail(
    image_sets, editor, scheduled, settings
):
    datastore_id, (image_set_id, *_) = image_sets
    settings.EDIT_RATE_LIMIT_STORAGE_URL = "redis://127.0.0.1:9/0"
    pacing._limiter.cache_clear()
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "LIMITER^DOWN")],
    )

    services.advance_edit(edit.pk)

    edit.refresh_from_db()
    assert edit.status == MetadataEdit.Status.QUEUED
    assert (edit.attempts, edit.waiting_since is not None) == (0, True)


def test_a_set_locked_past_the_deadline_stops_as_still_locked_and_can_be_checked_again(
    image_sets, editor, scheduled, healthimaging, settings
):
    datastore_id, (image_set_id, *_) = image_sets
    settings.EDIT_DEADLINE_SECONDS = 1
    control(healthimaging.url, "config", {"updateDelaySeconds": 2})
    try:
        edit = queue(
            editor,
            datastore_id,
            image_set_id,
            [name_change(datastore_id, image_set_id, "SLOW^SET")],
        )
        services.advance_edit(edit.pk)
        edit.refresh_from_db()
        assert edit.status == MetadataEdit.Status.UPDATING
        MetadataEdit.objects.filter(pk=edit.pk).update(
            next_check_at=None, waiting_since=edit.waiting_since.replace(year=2000)
        )
        services.advance_edit(edit.pk)
        edit.refresh_from_db()
        assert edit.status == MetadataEdit.Status.TIMED_OUT
        assert "still locked" in edit.message
    finally:
        control(healthimaging.url, "config", {"updateDelaySeconds": 0})

    settings.EDIT_DEADLINE_SECONDS = 60
    services.check_again(edit=edit, user=editor, request=None)
    assert AuditEvent.objects.filter(
        edit_id=edit.pk, action="edit.checked_again"
    ).exists()
    edit = run_to_end(edit)
    assert edit.status == MetadataEdit.Status.SUCCEEDED
    assert edit.attempts == 1


def test_a_duplicate_delivery_takes_no_step(image_sets, editor, scheduled):
    datastore_id, (image_set_id, *_) = image_sets
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "ONCE^ONLY")],
    )
    services.advance_edit(edit.pk)  # sends the update, next look in 2 s
    services.advance_edit(edit.pk)  # the same message again: not due yet
    edit.refresh_from_db()
    assert (edit.attempts, edit.checks) == (1, 1)


def test_the_reconciler_redrives_only_overdue_active_edits(
    image_sets, editor, scheduled, settings
):
    datastore_id, (first, second, _) = image_sets
    overdue = queue(
        editor,
        datastore_id,
        first,
        [name_change(datastore_id, first, "OVER^DUE")],
    )
    queue(
        editor,
        datastore_id,
        second,
        [name_change(datastore_id, second, "ON^TIME")],
    )
    MetadataEdit.objects.filter(pk=overdue.pk).update(
        next_check_at=overdue.created_at.replace(year=2000)
    )
    scheduled.clear()

    assert services.reconcile_edits() == 1
    assert scheduled == [(str(overdue.pk), 0)]


def test_a_change_over_the_payload_quota_is_refused_before_it_is_queued(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    huge = AttributeChange(
        level="Study", attribute="StudyComments", old=None, new="x" * 11_000
    )
    with pytest.raises(services.EditRefused, match="too large"):
        queue(editor, datastore_id, image_set_id, [huge])
    assert not MetadataEdit.objects.exists()
    assert scheduled == []


def test_a_long_wait_for_a_pacing_slot_comes_back_within_the_visibility_timeout(
    image_sets, editor, scheduled, settings
):
    """A message re-scheduled past the broker's visibility timeout would be delivered twice."""
    datastore_id, (first, second, _) = image_sets
    settings.HEALTHIMAGING_UPDATE_RATE = "1 per 1000 seconds"
    pacing._limiter.cache_clear()
    edits = [
        queue(
            editor,
            datastore_id,
            image_set_id,
            [name_change(datastore_id, image_set_id, "SLOW^PACE")],
        )
        for image_set_id in (first, second)
    ]
    scheduled.clear()
    for edit in edits:
        services.advance_edit(edit.pk)

    waiting = MetadataEdit.objects.get(pk=edits[1].pk)
    assert waiting.attempts == 0
    assert scheduled[-1][1] == services.MAX_COUNTDOWN
    assert services.MAX_COUNTDOWN < settings.CELERY_VISIBILITY_TIMEOUT


@pytest.mark.parametrize(
    ("died_before", "status"),
    [
        (0, MetadataEdit.Status.UPDATING),  # one killed step: the next takes over
        (services.MAX_INTERRUPTIONS - 1, MetadataEdit.Status.FAILED),  # a poison edit
    ],
)
def test_a_step_that_died_is_taken_over_and_a_poison_edit_stops(
    image_sets, editor, scheduled, died_before, status
):
    datastore_id, (image_set_id, *_) = image_sets
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "KILLED^STEP")],
    )
    # A step took the lease, then its worker died: the lease ran out, unreleased.
    MetadataEdit.objects.filter(pk=edit.pk).update(
        lease=uuid.uuid4(),
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
        interruptions=died_before,
    )

    services.advance_edit(edit.pk)

    edit.refresh_from_db()
    assert edit.interruptions == died_before + 1
    assert edit.status == status
    assert edit.lease is None


def test_a_redelivered_message_takes_over_its_own_lease_and_its_first_run_can_not_write(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [name_change(datastore_id, image_set_id, "REDELIVERED^STEP")],
    )
    step = uuid.uuid4()  # the task id, which a message keeps when it is delivered again
    MetadataEdit.objects.filter(pk=edit.pk).update(
        lease=step, lease_expires_at=timezone.now() + datetime.timedelta(minutes=2)
    )
    first_run = MetadataEdit.objects.get(pk=edit.pk)

    services.advance_edit(edit.pk, step_id=uuid.uuid4(), redelivered=True)
    services.advance_edit(edit.pk, step_id=step, redelivered=False)
    edit.refresh_from_db()
    assert (edit.status, edit.interruptions) == (MetadataEdit.Status.QUEUED, 0)

    services.advance_edit(edit.pk, step_id=step, redelivered=True)
    edit.refresh_from_db()
    assert (edit.status, edit.interruptions) == (MetadataEdit.Status.UPDATING, 1)

    # The run it pre-empted (still alive, say, past the visibility timeout) writes nothing.
    first_run.status = MetadataEdit.Status.FAILED
    held_before = Q(lease=step, interruptions=0)
    assert not services._save_step(first_run, held_before, timezone.now(), None)
    edit.refresh_from_db()
    assert edit.status == MetadataEdit.Status.UPDATING

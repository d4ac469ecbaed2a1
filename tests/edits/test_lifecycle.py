"""The edit lifecycle, one worker step at a time, against the live emulator."""

import time

import pytest

from apps.audit.models import AuditEvent
from apps.edits import services
from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.support.edits import change_behind_the_portals_back
from tests.support.emulator import control

pytestmark = pytest.mark.django_db(transaction=True)


def patient_name_change(
    datastore_id: str, image_set_id: str, new: str
) -> AttributeChange:
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    return AttributeChange(
        level="Patient",
        attribute="PatientName",
        old=document["Patient"]["DICOM"].get("PatientName"),
        new=new,
    )


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


def run_to_end(edit: MetadataEdit, scheduled, *, limit: int = 50) -> MetadataEdit:
    """Take the steps without waiting for their due time, a tenth of a second apart."""
    for _ in range(limit):
        MetadataEdit.objects.filter(pk=edit.pk).update(next_check_at=None)
        services.advance_edit(edit.pk)
        edit.refresh_from_db()
        if not edit.is_active:
            return edit
        time.sleep(0.1)
    raise AssertionError(f"edit still {edit.status} after {limit} steps")


def test_an_edit_succeeds_and_the_new_value_is_in_the_metadata(
    image_sets, editor, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    change = patient_name_change(datastore_id, image_set_id, "DOE^JANE^Q")

    edit = queue(editor, datastore_id, image_set_id, [change])
    assert scheduled == [(str(edit.pk), 0)]
    edit = run_to_end(edit, scheduled)

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
    change = patient_name_change(datastore_id, image_set_id, "FIRST^EDIT")
    queue(editor, datastore_id, image_set_id, [change])

    with pytest.raises(
        services.EditInProgress, match="already has an edit in progress"
    ):
        queue(editor, datastore_id, image_set_id, [change])
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
        [patient_name_change(datastore_id, image_set_id, "FAIL^ME")],
    )
    edit = run_to_end(edit, scheduled)

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
        [patient_name_change(datastore_id, image_set_id, "MINE^EDIT")],
    )
    change_behind_the_portals_back(datastore_id, image_set_id)
    edit = run_to_end(edit, scheduled)
    assert edit.status == MetadataEdit.Status.CONFLICT
    assert edit.can_reapply

    again = services.reapply_edit(edit=edit, user=editor, request=None)
    assert again.base_version == 2
    again = run_to_end(again, scheduled)
    assert again.status == MetadataEdit.Status.SUCCEEDED
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == "MINE^EDIT"
    assert document["Study"]["DICOM"]["StudyDescription"] == "CHANGED BY SOMEONE ELSE"


def test_a_lost_response_is_recognised_as_the_jobs_own_write(
    image_sets, editor, scheduled
):
    """The update applied, but the job never heard: its next send gets "not the latest",
    and the version after its base carries its change, so it succeeds, once."""
    datastore_id, (image_set_id, *_) = image_sets
    change = patient_name_change(datastore_id, image_set_id, "LOST^ANSWER")
    edit = queue(editor, datastore_id, image_set_id, [change])
    get_gateway().update_image_set_metadata(
        datastore_id,
        image_set_id,
        latest_version=1,
        dicom_updates=services.dicom_updates([change]),
    )
    edit = run_to_end(edit, scheduled)

    assert edit.status == MetadataEdit.Status.SUCCEEDED
    assert edit.accepted_version == 2
    versions = get_gateway().list_image_set_versions(datastore_id, image_set_id)
    assert [entry.version for entry in versions] == [2, 1]


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
            [patient_name_change(datastore_id, image_set_id, "SLOW^SET")],
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
    services.check_again(edit=edit)
    edit = run_to_end(edit, scheduled)
    assert edit.status == MetadataEdit.Status.SUCCEEDED
    assert edit.attempts == 1


def test_a_duplicate_delivery_takes_no_step(image_sets, editor, scheduled):
    datastore_id, (image_set_id, *_) = image_sets
    edit = queue(
        editor,
        datastore_id,
        image_set_id,
        [patient_name_change(datastore_id, image_set_id, "ONCE^ONLY")],
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
        [patient_name_change(datastore_id, first, "OVER^DUE")],
    )
    queue(
        editor,
        datastore_id,
        second,
        [patient_name_change(datastore_id, second, "ON^TIME")],
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

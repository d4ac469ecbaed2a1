"""A revert is an edit job that sends revertToVersionId: one step at a time, against the
live emulator, like `test_lifecycle.py`."""

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.edits import services
from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.history.roles import user_with_role
from tests.support.edits import change_behind_the_portals_back, run_to_end
from tests.support.emulator import control

pytestmark = pytest.mark.django_db(transaction=True)
Status = MetadataEdit.Status


@pytest.fixture
def admin(db):
    return user_with_role("reverter", "admin")


def rename_patient(datastore_id, image_set_id, name, *, latest_version):
    """Somebody changes the patient name straight through the gateway: a new version."""
    get_gateway().update_image_set_metadata(
        datastore_id,
        image_set_id,
        latest_version=latest_version,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Patient": {"DICOM": {"PatientName": name}},
            }
        },
    )


def metadata(datastore_id, image_set_id, version=None):
    return get_gateway().get_image_set_metadata(
        datastore_id, image_set_id, version=version
    )


def queue_revert(user, datastore_id, image_set_id, *, base, to):
    return services.queue_revert(
        user=user,
        request=None,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=base,
        revert_to_version=to,
        reason="The rename was a mistake",
    )


def actions(edit: MetadataEdit) -> list[str]:
    return list(
        AuditEvent.objects.filter(edit_id=edit.pk)
        .order_by("at")
        .values_list("action", flat=True)
    )


def test_a_revert_succeeds_and_the_latest_metadata_is_the_target_versions(
    image_sets, admin, scheduled, healthimaging
):
    datastore_id, (image_set_id, *_) = image_sets
    original = metadata(datastore_id, image_set_id)
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    assert metadata(datastore_id, image_set_id) != original

    edit = queue_revert(admin, datastore_id, image_set_id, base=2, to=1)
    assert edit.is_revert
    assert edit.changes == []
    assert scheduled == [(str(edit.pk), 0)]
    edit = run_to_end(edit)

    assert edit.status == Status.SUCCEEDED
    assert edit.accepted_version == 3
    assert edit.attempts == 1
    assert metadata(datastore_id, image_set_id) == metadata(
        datastore_id, image_set_id, version=1
    )
    assert metadata(datastore_id, image_set_id) == original
    assert actions(edit) == ["revert.queued", "revert.accepted", "revert.succeeded"]
    assert AuditEvent.objects.get(edit_id=edit.pk, action="revert.queued").outcome == (
        "Queued (revert to version 1)"
    )
    updates = [
        call
        for call in control(healthimaging.url, f"calls?imageSetId={image_set_id}")[
            "calls"
        ]
        if call["operation"] == "UpdateImageSetMetadata"
    ]
    assert len(updates) == 2  # the rename, and the revert: sent once


def test_a_lost_response_of_a_revert_is_recognised_as_its_own_write(
    image_sets, admin, scheduled
):
    """The revert was applied but the job never heard: its next send is "not the latest",
    and version 3 (after the send) holds version 1's metadata, so it is the job's own."""
    datastore_id, (image_set_id, *_) = image_sets
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    edit = queue_revert(admin, datastore_id, image_set_id, base=2, to=1)
    MetadataEdit.objects.filter(pk=edit.pk).update(
        first_submitted_at=timezone.now(), attempts=1
    )
    get_gateway().update_image_set_metadata(
        datastore_id, image_set_id, latest_version=2, revert_to_version=1
    )

    edit = run_to_end(edit)

    assert edit.status == Status.SUCCEEDED
    assert edit.accepted_version == 3
    versions = get_gateway().list_image_set_versions(datastore_id, image_set_id)
    assert [entry.version for entry in versions] == [3, 2, 1]  # applied once
    assert actions(edit) == ["revert.queued", "revert.accepted", "revert.succeeded"]


def test_someone_elses_version_after_the_send_is_not_taken_for_the_revert(
    image_sets, admin, scheduled
):
    """Made after the send, but its metadata is not the target's: a conflict."""
    datastore_id, (image_set_id, *_) = image_sets
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    edit = queue_revert(admin, datastore_id, image_set_id, base=2, to=1)
    MetadataEdit.objects.filter(pk=edit.pk).update(
        first_submitted_at=timezone.now(), attempts=1
    )
    rename_patient(datastore_id, image_set_id, "OTHER^NAME", latest_version=2)

    edit = run_to_end(edit)

    assert edit.status == Status.CONFLICT
    assert metadata(datastore_id, image_set_id)["Patient"]["DICOM"]["PatientName"] == (
        "OTHER^NAME"
    )


def test_a_stale_revert_ends_in_conflict_and_can_be_sent_again_on_the_latest(
    image_sets, admin, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    original = metadata(datastore_id, image_set_id)
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    edit = queue_revert(admin, datastore_id, image_set_id, base=2, to=1)
    change_behind_the_portals_back(datastore_id, image_set_id, latest_version=2)

    edit = run_to_end(edit)

    assert edit.status == Status.CONFLICT
    assert "revert to version 1 was not applied" in edit.message
    assert edit.accepted_version is None
    assert actions(edit) == ["revert.queued", "revert.conflict"]
    assert edit.can_reapply

    again = services.reapply_edit(edit=edit, user=admin, request=None)
    assert (again.base_version, again.revert_to_version) == (3, 1)
    assert again.reapplies == edit
    again = run_to_end(again)
    assert again.status == Status.SUCCEEDED
    assert metadata(datastore_id, image_set_id) == original


def test_a_revert_that_fails_at_healthimaging_ends_failed(
    image_sets, admin, scheduled, healthimaging
):
    datastore_id, (image_set_id, *_) = image_sets
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    control(
        healthimaging.url,
        f"image-sets/{image_set_id}/fail-next-update",
        {"message": "INVALID_REQUEST: injected for the test"},
    )
    edit = run_to_end(queue_revert(admin, datastore_id, image_set_id, base=2, to=1))

    assert edit.status == Status.FAILED
    assert "injected for the test" in edit.message
    assert actions(edit)[-1] == "revert.failed"


def test_a_revert_still_locked_can_be_checked_again(image_sets, admin, scheduled):
    datastore_id, (image_set_id, *_) = image_sets
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    edit = queue_revert(admin, datastore_id, image_set_id, base=2, to=1)
    MetadataEdit.objects.filter(pk=edit.pk).update(
        status=Status.TIMED_OUT, finished_at=timezone.now()
    )
    edit.refresh_from_db()

    services.check_again(edit=edit, user=admin, request=None)
    edit = run_to_end(edit)

    assert edit.status == Status.SUCCEEDED


def test_what_can_not_be_reverted_is_refused_before_anything_is_queued(
    image_sets, admin, scheduled, healthimaging
):
    datastore_id, (image_set_id, *_) = image_sets
    control(
        healthimaging.url,
        f"image-sets/{image_set_id}/fail-next-update",
        {"message": "INVALID_REQUEST: injected for the test"},
    )
    rename_patient(datastore_id, image_set_id, "FAILS", latest_version=1)  # v2 fails
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=2)  # v3

    with pytest.raises(services.EditRefused, match="failed version"):
        queue_revert(admin, datastore_id, image_set_id, base=3, to=2)
    with pytest.raises(services.EditRefused, match="earlier version"):
        queue_revert(admin, datastore_id, image_set_id, base=3, to=3)
    with pytest.raises(services.EditRefused, match="reason"):
        services.queue_revert(
            user=admin,
            request=None,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=3,
            revert_to_version=1,
            reason="  ",
        )
    editor = user_with_role("an-editor", "editor")
    with pytest.raises(services.EditRefused, match="role"):
        queue_revert(editor, datastore_id, image_set_id, base=3, to=1)
    assert not MetadataEdit.objects.exists()


def test_one_active_job_per_image_set_holds_for_reverts(image_sets, admin, scheduled):
    datastore_id, (image_set_id, *_) = image_sets
    rename_patient(datastore_id, image_set_id, "WRONG^NAME", latest_version=1)
    services.queue_edit(
        user=admin,
        request=None,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=2,
        changes=[AttributeChange("Patient", "PatientName", "WRONG^NAME", "RIGHT^NAME")],
        force=False,
        reason="Typo",
    )

    with pytest.raises(services.EditInProgress):
        queue_revert(admin, datastore_id, image_set_id, base=2, to=1)
    assert MetadataEdit.objects.count() == 1

"""Edits applied by a real `celery worker` through a real Redis, against the live emulator."""

import time

import pytest

from apps.edits import services
from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(edit: MetadataEdit, statuses, timeout: float = 60) -> MetadataEdit:
    deadline = time.monotonic() + timeout
    while True:
        edit.refresh_from_db()
        if edit.status in statuses:
            return edit
        if time.monotonic() > deadline:
            raise AssertionError(f"edit still {edit.status} after {timeout} s")
        time.sleep(0.1)


def test_a_worker_applies_a_queued_edit(image_sets, editor, start_worker):
    datastore_id, (image_set_id, *_) = image_sets
    start_worker()
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    edit = services.queue_edit(
        user=editor,
        request=None,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=1,
        changes=[
            AttributeChange(
                level="Patient",
                attribute="PatientName",
                old=document["Patient"]["DICOM"]["PatientName"],
                new="WORKER^APPLIED",
            )
        ],
        force=False,
        reason="Typo",
    )
    edit = wait_for(edit, {MetadataEdit.Status.SUCCEEDED, MetadataEdit.Status.FAILED})
    assert edit.status == MetadataEdit.Status.SUCCEEDED, edit.message
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == "WORKER^APPLIED"

"""Helpers for tests of edits."""

import time

from apps.edits import services
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway


def change_behind_the_portals_back(
    datastore_id: str, image_set_id: str, *, latest_version: int = 1
) -> None:
    """Somebody else changes the image set (its study description), straight through boto3."""
    get_gateway().update_image_set_metadata(
        datastore_id,
        image_set_id,
        latest_version=latest_version,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Study": {"DICOM": {"StudyDescription": "CHANGED BY SOMEONE ELSE"}},
            }
        },
    )


def run_to_end(edit: MetadataEdit, *, limit: int = 50) -> MetadataEdit:
    """Take the job's steps without waiting for their due time, a tenth of a second apart."""
    for _ in range(limit):
        MetadataEdit.objects.filter(pk=edit.pk).update(next_check_at=None)
        services.advance_edit(edit.pk)
        edit.refresh_from_db()
        if not edit.is_active:
            return edit
        time.sleep(0.1)
    raise AssertionError(f"edit still {edit.status} after {limit} steps")

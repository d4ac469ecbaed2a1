"""Helpers for tests of edits."""

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

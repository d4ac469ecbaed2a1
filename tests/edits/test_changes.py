"""Attribute changes become DICOMUpdates documents, and a version can be checked for them."""

import pytest

from apps.edits.changes import AttributeChange, carries, dicom_updates
from apps.edits.services import MAX_PAYLOAD_BYTES, payload_size

SERIES, SOP = "1.2.3", "1.2.3.4"
DOCUMENT = {
    "SchemaVersion": "1.1",
    "Patient": {"DICOM": {"PatientName": "DOE^JOHN", "PatientSex": "M"}},
    "Study": {
        "DICOM": {"StudyDescription": "CT HEAD"},
        "Series": {
            SERIES: {
                "DICOM": {"SeriesDescription": "AX", "SeriesInstanceUID": SERIES},
                "Instances": {SOP: {"DICOM": {"SOPInstanceUID": SOP}}},
            }
        },
    },
}


def test_each_change_lands_at_its_level_and_removals_apart():
    changes = [
        AttributeChange("Patient", "PatientName", "DOE^JOHN", "DOE^JANE"),
        AttributeChange("Study", "StudyDescription", "CT HEAD", remove=True),
        AttributeChange(
            "Series", "SeriesDescription", "AX", "AXIAL", series_uid=SERIES
        ),
        AttributeChange(
            "Instance",
            "00091001",
            None,
            "97",
            series_uid=SERIES,
            instance_uid=SOP,
            vr="DS",
        ),
    ]

    assert dicom_updates(changes) == {
        "updatableAttributes": {
            "SchemaVersion": "1.1",
            "Patient": {"DICOM": {"PatientName": "DOE^JANE"}},
            "Study": {
                "Series": {
                    SERIES: {
                        "DICOM": {"SeriesDescription": "AXIAL"},
                        "Instances": {
                            SOP: {
                                "DICOM": {"00091001": "97"},
                                "DICOMVRs": {"00091001": "DS"},
                            }
                        },
                    }
                }
            },
        },
        "removableAttributes": {
            "SchemaVersion": "1.1",
            "Study": {"DICOM": {"StudyDescription": "CT HEAD"}},
        },
    }


def test_a_document_carries_changes_only_when_every_one_is_applied():
    name = AttributeChange("Patient", "PatientName", "DOE^JOHN", "DOE^JANE")
    removal = AttributeChange("Patient", "PatientSex", "M", remove=True)
    applied = {"Patient": {"DICOM": {"PatientName": "DOE^JANE"}}}

    assert carries(applied, [name, removal])
    assert not carries(DOCUMENT, [name])
    assert not carries(DOCUMENT, [removal])
    assert not carries({}, [name])


def test_a_changed_series_uid_is_looked_for_under_its_new_key():
    change = AttributeChange(
        "Series", "SeriesInstanceUID", SERIES, "9.9.9", series_uid=SERIES
    )
    rekeyed = {
        "Study": {"Series": {"9.9.9": {"DICOM": {"SeriesInstanceUID": "9.9.9"}}}}
    }

    assert carries(rekeyed, [change])
    assert not carries(DOCUMENT, [change])


@pytest.mark.parametrize("length", [10, 2000])
def test_payload_size_counts_the_bytes_sent(length):
    change = AttributeChange("Study", "StudyDescription", None, "é" * length)
    size = payload_size([change])
    assert size > 2 * length  # é is two bytes in UTF-8, and it is sent as UTF-8


def test_changes_inside_a_renamed_series_are_looked_for_under_its_new_uid():
    changes = [
        AttributeChange(
            "Series", "SeriesInstanceUID", SERIES, "9.9", series_uid=SERIES
        ),
        AttributeChange(
            "Instance", "InstanceNumber", "1", "2", series_uid=SERIES, instance_uid=SOP
        ),
    ]
    applied = {
        "Study": {
            "Series": {
                "9.9": {
                    "DICOM": {"SeriesInstanceUID": "9.9"},
                    "Instances": {SOP: {"DICOM": {"InstanceNumber": "2"}}},
                }
            }
        }
    }

    assert carries(applied, changes)


def test_payload_size_counts_the_request_body_with_its_base64_blobs():
    # 8,000 bytes of JSON travel as about 10,700 bytes of base64: over the 10 KB quota.
    change = AttributeChange("Study", "StudyComments", None, "x" * 8000)

    assert payload_size([change]) > MAX_PAYLOAD_BYTES

"""HealthImaging's update rules, as the portal checks them before queueing."""

import pytest

from apps.edits.changes import AttributeChange
from apps.edits.rules import judge, typed_value, value_problem

DOCUMENT = {
    "Patient": {"DICOM": {"PatientName": "DOE^JOHN"}},
    "Study": {
        "DICOM": {"StudyDescription": "CT HEAD"},
        "Series": {
            "1.2": {
                "DICOM": {"SeriesDescription": "AX"},
                "Instances": {"1.2.3": {"DICOM": {"InstanceNumber": "1"}}},
            }
        },
    },
}


@pytest.mark.parametrize(
    ("value", "vr"),
    [
        ("2024013", "DA"),  # strptime alone would take it
        ("20240231", "DA"),
        ("250000", "TM"),
        ("m", "CS"),
        ("1.02.3", "UI"),
        ("A" * 65, "LO"),
        ("line\nbreak", "LO"),
        ("A^B^C^D^E^F", "PN"),
    ],
)
def test_values_that_do_not_suit_their_vr_are_reported(value, vr):
    assert value_problem(typed_value(value, vr), vr)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e999"])
def test_non_finite_numbers_are_not_sent_as_numbers(text):
    value = typed_value(text, "FD")

    assert value == text  # stays text: NaN and infinities are not JSON
    assert value_problem(value, "FD")


def test_an_attribute_of_one_level_is_refused_at_another():
    misplaced = AttributeChange("Study", "PatientName", None, "DOE^JANE")

    assert "Patient level" in " ".join(judge(misplaced, DOCUMENT).errors)


def test_an_attribute_at_its_own_level_passes():
    change = AttributeChange(
        "Series", "SeriesDescription", "AX", "AXIAL", series_uid="1.2"
    )

    verdict = judge(change, DOCUMENT)

    assert verdict.errors == []
    assert verdict.needs_force == []

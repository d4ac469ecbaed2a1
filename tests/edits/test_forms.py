"""The edit form against a metadata document: which changes it makes, and what it refuses."""

import copy
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.edits.forms import MetadataEditForm, normalised_attribute
from apps.emulator.seed import generate_image_sets

SECOND_SERIES = "1.2.826.0.1.3680043.8.498.2.99"
SECOND_SOP = "1.2.826.0.1.3680043.8.498.2.99.1"
PRIVATE_TAG = "00091001"


def seeded_document() -> dict:
    """A generated image set with a second series and a private tag on one instance."""
    (image_set,) = generate_image_sets(1, datastore_id="a" * 32, random_seed=3)
    document = copy.deepcopy(image_set.metadata)
    series = document["Study"]["Series"]
    first = next(iter(series.values()))
    first_sop = next(iter(first["Instances"]))
    first["Instances"][first_sop]["DICOM"][PRIVATE_TAG] = "GE_GENESIS"
    first["Instances"][first_sop]["DICOMVRs"] = {PRIVATE_TAG: "LO"}
    second = copy.deepcopy(first)
    second["DICOM"]["SeriesInstanceUID"] = SECOND_SERIES
    instance = next(iter(second["Instances"].values()))
    instance["DICOM"]["SOPInstanceUID"] = SECOND_SOP
    second["Instances"] = {SECOND_SOP: instance}
    series[SECOND_SERIES] = second
    return document


DOCUMENT = seeded_document()
FIRST_SERIES, FIRST_SOP = next(
    (uid, next(iter(entry["Instances"])))
    for uid, entry in DOCUMENT["Study"]["Series"].items()
)
PATIENT = DOCUMENT["Patient"]["DICOM"]
STUDY = DOCUMENT["Study"]["DICOM"]


def posted(*, rows: list[dict] | None = None, **fields: str) -> QueryDict:
    """What the browser sends for the form as loaded, with `fields` and `rows` typed in."""
    loaded = MetadataEditForm(document=DOCUMENT, initial={"base_version": 1})
    data = {
        name: loaded[name].value()
        for name in loaded.fields
        if not name.endswith("_remove") and name != "force"
    }
    data["reason"] = "Misspelled at registration"
    rows = rows or [{}]
    data |= {
        "rows-TOTAL_FORMS": str(len(rows)),
        "rows-INITIAL_FORMS": "0",
        "rows-MIN_NUM_FORMS": "0",
        "rows-MAX_NUM_FORMS": "20",
    }
    for index, row in enumerate(rows):
        data |= {f"rows-{index}-{name}": value for name, value in row.items()}
    data |= fields
    return QueryDict(
        urlencode({k: v for k, v in data.items() if v is not None}, doseq=True)
    )


def edit_form(**kwargs) -> MetadataEditForm:
    return MetadataEditForm(posted(**kwargs), document=DOCUMENT)


def row_errors(form: MetadataEditForm, index: int = 0) -> str:
    return " ".join(
        str(error)
        for errors in form.rows.forms[index].errors.values()
        for error in errors
    )


def test_edit_form_makes_no_changes_when_nothing_changed():
    form = edit_form()

    assert not form.is_valid()
    assert form.changes == []
    assert form.non_field_errors() == ["Nothing to change: every value is as it was."]


def test_edit_form_prefills_the_current_values():
    form = MetadataEditForm(document=DOCUMENT, initial={"base_version": 1})

    assert form["patient_name"].value() == PATIENT["PatientName"]
    assert form["study_date"].value() == STUDY["StudyDate"]
    assert form["base_version"].value() == 1


def test_edit_form_makes_one_patient_change_for_a_changed_name():
    form = edit_form(patient_name="DOE^JANE")

    assert form.is_valid(), form.errors
    [change] = form.changes
    assert (change.level, change.attribute) == ("Patient", "PatientName")
    assert change.old == PATIENT["PatientName"]
    assert change.new == "DOE^JANE"
    assert not change.remove


@pytest.mark.parametrize(
    "name",
    [
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        "MÜLLER^JOSÉ^Ñ",
        "^Given only",
        "O'NEIL^ SEAN ",
    ],
)
def test_edit_form_keeps_person_names_exactly_as_typed(name):
    form = edit_form(patient_name=name)

    assert form.is_valid(), form.errors
    assert [change.new for change in form.changes] == [name]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("patient_birth_date", "19701332"),
        ("patient_birth_date", "1970-01-31"),
        ("study_date", "20240231"),
        ("study_time", "256000"),
        ("study_time", "14:30"),
        ("patient_sex", "m"),
        ("patient_sex", "MALE"),
    ],
)
def test_edit_form_refuses_values_that_do_not_suit_the_attribute(field, value):
    form = edit_form(**{field: value})

    assert not form.is_valid()
    assert form.errors[field]
    assert form.changes == []


def test_edit_form_makes_a_cleared_value_null():
    form = edit_form(study_description="")

    assert form.is_valid(), form.errors
    [change] = form.changes
    assert (change.attribute, change.old, change.new) == (
        "StudyDescription",
        STUDY["StudyDescription"],
        None,
    )


def test_edit_form_removes_a_present_attribute():
    form = edit_form(accession_number_remove="on")

    assert form.is_valid(), form.errors
    [change] = form.changes
    assert change.remove
    assert (change.level, change.attribute, change.old) == (
        "Study",
        "AccessionNumber",
        STUDY["AccessionNumber"],
    )


def test_edit_form_offers_remove_only_for_present_attributes():
    document = copy.deepcopy(DOCUMENT)
    del document["Study"]["DICOM"]["AccessionNumber"]

    form = MetadataEditForm(document=document, initial={"base_version": 1})

    assert "accession_number_remove" not in form.fields
    assert "patient_name_remove" in form.fields


def test_edit_form_refuses_a_never_updatable_attribute_in_the_advanced_editor():
    form = edit_form(
        rows=[
            {
                "level": "Instance",
                "series_uid": FIRST_SERIES,
                "instance_uid": FIRST_SOP,
                "attribute": "PixelData",
                "value": "1",
            }
        ],
        force="on",
    )

    assert not form.is_valid()
    assert "PixelData can never be changed." in row_errors(form)


def test_edit_form_asks_for_force_to_change_a_study_instance_uid():
    row = {"level": "Study", "attribute": "StudyInstanceUID", "value": "1.2.3.4"}

    refused = edit_form(rows=[row])
    forced = edit_form(rows=[row], force="on")

    assert not refused.is_valid()
    assert "needs Force" in row_errors(refused)
    assert "StudyInstanceUID identifies the data." in row_errors(refused)
    assert forced.is_valid(), forced.errors
    [check] = forced.checks
    assert check.change.new == "1.2.3.4"
    assert check.needs_force == ("StudyInstanceUID identifies the data.",)


@pytest.mark.parametrize(
    "typed", ["(0009,1001)", "0009,1001", "00091001", "(0009, 1001)", "(0009,10ab)"]
)
def test_normalised_attribute_spells_private_tags_as_eight_hex_digits(typed):
    assert normalised_attribute(typed) == typed.upper().translate(
        str.maketrans("", "", "(), ")
    )


def test_normalised_attribute_names_standard_tags_by_keyword():
    assert normalised_attribute("(0010,0010)") == "PatientName"
    assert normalised_attribute("StudyDescription") == "StudyDescription"


def test_edit_form_changes_an_existing_private_tag_given_in_any_spelling():
    form = edit_form(
        rows=[
            {
                "level": "Instance",
                "series_uid": FIRST_SERIES,
                "instance_uid": FIRST_SOP,
                "attribute": "(0009,1001)",
                "value": "GE_OTHER",
            }
        ],
        force="on",
    )

    assert form.is_valid(), form.errors
    [change] = form.changes
    assert (change.attribute, change.old, change.new, change.vr) == (
        PRIVATE_TAG,
        "GE_GENESIS",
        "GE_OTHER",
        "",
    )


def test_edit_form_refuses_a_new_private_tag_without_its_vr():
    row = {
        "level": "Instance",
        "series_uid": FIRST_SERIES,
        "instance_uid": FIRST_SOP,
        "attribute": "0019,10f9",
        "value": "97",
    }

    refused = edit_form(rows=[row], force="on")
    accepted = edit_form(rows=[{**row, "vr": "DS"}], force="on")

    assert not refused.is_valid()
    assert "Give the value representation of 001910F9." in row_errors(refused)
    assert accepted.is_valid(), accepted.errors
    [change] = accepted.changes
    assert (change.attribute, change.new, change.vr) == ("001910F9", "97", "DS")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"level": "Series", "series_uid": "1.2.3"}, "series_uid"),
        (
            {"level": "Instance", "series_uid": FIRST_SERIES, "instance_uid": "9.9.9"},
            "instance_uid",
        ),
        (
            {
                "level": "Instance",
                "series_uid": FIRST_SERIES,
                "instance_uid": SECOND_SOP,
            },
            "instance_uid",
        ),
        ({"level": "Instance", "series_uid": FIRST_SERIES}, "instance_uid"),
        ({"level": "Series"}, "series_uid"),
    ],
)
def test_edit_form_refuses_series_and_instances_not_in_the_image_set(row, field):
    form = edit_form(rows=[{**row, "attribute": "SeriesDescription", "value": "X"}])

    assert not form.is_valid()
    assert form.rows.forms[0].errors[field]


def test_edit_form_changes_an_attribute_of_the_second_series():
    form = edit_form(
        rows=[
            {
                "level": "Series",
                "series_uid": SECOND_SERIES,
                "attribute": "SeriesDescription",
                "value": "AX T1",
            }
        ]
    )

    assert form.is_valid(), form.errors
    [change] = form.changes
    assert (change.place, change.new) == (f"Series {SECOND_SERIES}", "AX T1")


def test_edit_form_ignores_empty_rows():
    form = edit_form(
        patient_id="12345",
        rows=[{}, {"level": "Series", "series_uid": FIRST_SERIES}, {}],
    )

    assert form.is_valid(), form.errors
    assert [change.attribute for change in form.changes] == ["PatientID"]


def test_edit_form_refuses_the_same_attribute_changed_twice():
    form = edit_form(
        patient_name="DOE^JANE",
        rows=[{"level": "Patient", "attribute": "PatientName", "value": "DOE^JOAN"}],
    )

    assert not form.is_valid()
    assert "already changed above" in row_errors(form)


def test_edit_form_requires_a_reason():
    form = edit_form(patient_name="DOE^JANE", reason="  ")

    assert not form.is_valid()
    assert form.errors["reason"] == ["Give a reason for the change."]


def test_edit_form_adds_a_row_and_keeps_everything_typed_without_judging_it():
    data = posted(patient_name="not a date", reason="", rows=[{"attribute": "Foo"}])

    form = MetadataEditForm(data, document=DOCUMENT, draft=True, add_row=True)

    assert form.rows.total_form_count() == 2
    assert form["patient_name"].value() == "not a date"
    assert form.rows.forms[0]["attribute"].value() == "Foo"
    assert not form.errors
    assert not any(row.errors for row in form.rows.forms)
    assert ("rows-TOTAL_FORMS", "2") in form.state


PN_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("^= \\-'.,"),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    min_size=1,
    max_size=90,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(name=PN_TEXT)
def test_edit_form_sends_a_typed_patient_name_exactly_or_says_why_not(name):
    form = edit_form(patient_name=name)

    if name == PATIENT["PatientName"]:
        return
    if form.is_valid():
        assert [change.new for change in form.changes] == [name]
    else:
        assert form.errors["patient_name"]

"""The search-criteria builder: the console's filters become criteria the service accepts."""

import datetime
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.healthimaging.criteria import (
    PROPERTIES,
    SORT_FIELDS,
    InvalidSearch,
    SearchQuery,
    build_search_criteria,
)
from apps.healthimaging.gateway import get_gateway

UTC = datetime.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def build(timezone: datetime.tzinfo = UTC, **fields) -> dict:
    return build_search_criteria(SearchQuery(**fields), timezone=timezone)


def errors_of(**fields) -> dict:
    with pytest.raises(InvalidSearch) as excinfo:
        build(**fields)
    return excinfo.value.errors


def test_no_property_lists_everything_newest_updated_first():
    assert build() == {"sort": {"sortField": "updatedAt", "sortOrder": "DESC"}}


def test_an_identifier_is_an_exact_equal_without_surrounding_spaces():
    criteria = build(
        property="patient_id",
        value="  MRN 0042 ",
        sort_by="created_at",
        descending=False,
    )
    assert criteria == {
        "filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "MRN 0042"}]}],
        "sort": {"sortField": "createdAt", "sortOrder": "ASC"},
    }


def test_an_identifier_with_a_date_range_adds_an_updated_at_between():
    criteria = build(
        property="series_instance_uid",
        value="1.2.840.1",
        date_from=datetime.date(2024, 1, 1),
        date_to=datetime.date(2024, 1, 31),
    )
    equal, between = criteria["filters"]
    assert equal == {
        "operator": "EQUAL",
        "values": [{"DICOMSeriesInstanceUID": "1.2.840.1"}],
    }
    assert between["operator"] == "BETWEEN"
    assert [v["updatedAt"] for v in between["values"]] == [
        datetime.datetime(2024, 1, 1, tzinfo=UTC),
        datetime.datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]


def test_timestamps_are_read_in_the_portals_timezone_and_sent_in_utc():
    criteria = build(
        BERLIN,
        property="created_at",
        date_from=datetime.date(2024, 7, 1),
        time_from=datetime.time(9, 30),
        date_to=datetime.date(2024, 7, 1),
        time_to=datetime.time(10, 0),
    )
    values = [v["createdAt"] for v in criteria["filters"][0]["values"]]
    assert values == [
        datetime.datetime(2024, 7, 1, 7, 30, tzinfo=UTC),
        datetime.datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
    ]


def test_study_dates_are_dicom_dates_and_a_to_date_covers_the_whole_day():
    criteria = build(
        property="study_date_time",
        date_from=datetime.date(1990, 1, 1),
        date_to=datetime.date(2023, 1, 1),
        time_from=datetime.time(8, 0, 0, 250000),
    )
    assert criteria["filters"][0]["values"] == [
        {
            "DICOMStudyDateAndTime": {
                "DICOMStudyDate": "19900101",
                "DICOMStudyTime": "080000.250000",
            }
        },
        {
            "DICOMStudyDateAndTime": {
                "DICOMStudyDate": "20230101",
                "DICOMStudyTime": "235959.999999",
            }
        },
    ]


def test_an_open_range_end_is_a_fixed_far_bound_so_every_page_has_the_same_criteria():
    first = build(property="updated_at", date_from=datetime.date(2020, 5, 1))
    second = build(property="updated_at", date_from=datetime.date(2020, 5, 1))
    assert first == second
    assert first["filters"][0]["values"][1]["updatedAt"].year == 2100
    only_to = build(property="study_date_time", date_to=datetime.date(2000, 1, 1))
    assert only_to["filters"][0]["values"][0] == {
        "DICOMStudyDateAndTime": {"DICOMStudyDate": "19000101"}
    }


@pytest.mark.parametrize(
    "value", ["1.2.abc", "1..2", ".1.2", "1.2.", "12345", "1.2 .3", "1,2", "１.２"]
)
def test_a_uid_must_be_digits_and_single_periods(value):
    assert (
        "digits and periods only"
        in errors_of(property="study_instance_uid", value=value)["value"][0]
    )


def test_an_identifier_needs_a_value_within_the_model_length():
    assert errors_of(property="accession_number", value="   ") == {
        "value": ["Enter the Accession number to search for."]
    }
    assert (
        "at most 512 characters"
        in errors_of(property="study_id", value="9" * 513)["value"][0]
    )


def test_from_after_to_and_a_date_property_without_dates_are_refused():
    assert errors_of(
        property="updated_at",
        date_from=datetime.date(2024, 2, 1),
        date_to=datetime.date(2024, 1, 1),
    ) == {"date_from": ["From must be on or before To."]}
    same_day_backwards = errors_of(
        property="updated_at",
        date_from=datetime.date(2024, 2, 1),
        time_from=datetime.time(12),
        date_to=datetime.date(2024, 2, 1),
        time_to=datetime.time(11),
    )
    assert same_day_backwards == {"date_from": ["From must be on or before To."]}
    assert errors_of(property="created_at") == {
        "date_from": ["Enter a From or To date to search by Created at."]
    }


def test_unknown_properties_and_sort_fields_are_refused():
    assert set(errors_of(property="patient_name", sort_by="name")) == {
        "property",
        "sort_by",
    }


queries = st.builds(
    SearchQuery,
    property=st.sampled_from(["", *PROPERTIES]),
    value=st.one_of(
        st.text(max_size=20),
        st.from_regex(r"[1-9][0-9]{0,3}(\.[0-9]{1,4}){1,4}", fullmatch=True),
    ),
    date_from=st.none()
    | st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)),
    time_from=st.none() | st.times(),
    date_to=st.none()
    | st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)),
    time_to=st.none() | st.times(),
    sort_by=st.sampled_from(list(SORT_FIELDS)),
    descending=st.booleans(),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=queries)
def test_every_criteria_the_builder_accepts_is_accepted_by_the_service(
    healthimaging, browse_archive, query
):
    try:
        criteria = build_search_criteria(query, timezone=BERLIN)
    except InvalidSearch:
        return
    datastore_id, _ = browse_archive
    get_gateway().search_image_sets(datastore_id, criteria=criteria, max_results=5)


@pytest.mark.parametrize("property_key", ["created_at", "study_date_time"])
@pytest.mark.parametrize("year", [1, 999, 5000, 9999])
def test_a_date_outside_the_years_the_service_takes_is_refused_beside_its_field(
    property_key, year
):
    date = datetime.date(year, 1, 1)
    assert errors_of(property=property_key, date_from=date)["date_from"] == [
        "Enter a date from 1000-01-01 to 4999-12-31."
    ]
    assert "date_to" in errors_of(property=property_key, date_to=date)


@pytest.mark.parametrize("property_key", ["created_at", "study_date_time"])
def test_the_first_and_last_years_searched_are_accepted_by_the_service(
    healthimaging, browse_archive, property_key
):
    datastore_id, _ = browse_archive
    criteria = build(
        property=property_key,
        date_from=datetime.date(1000, 1, 1),
        date_to=datetime.date(4999, 12, 31),
    )
    get_gateway().search_image_sets(datastore_id, criteria=criteria, max_results=5)

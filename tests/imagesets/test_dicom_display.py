import datetime
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from apps.imagesets.templatetags.dicom_display import (
    NOT_RECORDED,
    dicom_date,
    dicom_date_time,
    dicom_time,
    file_size,
    or_missing,
    person_name,
    timestamp,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("DOE^JANE^Q", "DOE, JANE Q"),
        ("DOE^JANE", "DOE, JANE"),
        ("DOE", "DOE"),
        ("DOE^^Q", "DOE, Q"),
        ("^JANE", "JANE"),
        ("DOE^JANE^^DR^JR", "DOE, DR JANE JR"),
        ("YBARRA ABREU^YENI^G", "YBARRA ABREU, YENI G"),
        ("=山田^太郎", "山田, 太郎"),
        ({"Alphabetic": "DOE^JANE"}, "DOE, JANE"),
        ("^^^", "^^^"),
    ],
)
def test_person_name_shows_dicom_pn_readably(value, shown):
    assert person_name(value) == shown


@pytest.mark.parametrize("value", [None, "", "   ", {"Alphabetic": ""}])
def test_person_name_shows_missing_names_as_not_recorded(value):
    assert person_name(value) == NOT_RECORDED


def test_person_name_shows_a_non_text_value_as_given():
    assert person_name(42) == "42"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("19991122", "1999-11-22"),
        ("20240229", "2024-02-29"),
        ("2023", "2023"),
        ("20230230", "20230230"),
        ("1999-11-22", "1999-11-22"),
        ("19991122x", "19991122x"),
        ("not a date", "not a date"),
        (19991122, "1999-11-22"),
    ],
)
def test_dicom_date_shows_real_dates_and_anything_else_as_given(value, shown):
    assert dicom_date(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("140728.123", "14:07:28"),
        ("140728", "14:07:28"),
        ("1407", "14:07"),
        ("14", "14:00"),
        ("235960", "23:59:60"),
        ("25:99", "25:99"),
        ("2599", "2599"),
        ("246000", "246000"),
        ("1261", "1261"),
        ("14072", "14072"),
        ("abc", "abc"),
    ],
)
def test_dicom_time_shows_real_times_and_anything_else_as_given(value, shown):
    assert dicom_time(value) == shown


@pytest.mark.parametrize("formatter", [dicom_date, dicom_time, or_missing, timestamp])
@pytest.mark.parametrize("value", [None, ""])
def test_formatters_show_missing_values_as_an_announced_dash(formatter, value):
    assert formatter(value) == NOT_RECORDED
    assert "—" in NOT_RECORDED
    assert '<span class="visually-hidden">not recorded</span>' in NOT_RECORDED


def test_dicom_date_time_joins_study_date_and_time():
    assert dicom_date_time("19991122", "140728.123") == "1999-11-22 14:07:28"
    assert dicom_date_time("19991122", None) == "1999-11-22"
    assert dicom_date_time(None, "140728") == NOT_RECORDED
    assert dicom_date_time("2023", "25:99") == "2023 25:99"


def test_timestamp_shows_the_moment_in_the_current_time_zone():
    moment = datetime.datetime(2024, 1, 15, 12, 30, tzinfo=datetime.UTC)

    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        shown = timestamp(moment)

    assert shown == (
        '<time datetime="2024-01-15T07:30:00-05:00">2024-01-15 07:30:00 EST</time>'
    )


def test_timestamp_shows_something_that_is_not_a_datetime_as_given():
    assert timestamp("yesterday") == "yesterday"


def test_file_size_is_readable():
    assert file_size(512) == "512 bytes"
    assert file_size(524288) == "512.0 KiB"
    assert file_size(3 * 1024**3) == "3.0 GiB"
    assert file_size(None) == NOT_RECORDED
    assert file_size("huge") == "huge"


def test_formatted_values_are_escaped_in_templates():
    template = Template(
        "{% load dicom_display %}{{ name|person_name }}|{{ date|dicom_date }}|{{ time|dicom_time }}"
    )

    rendered = template.render(
        Context(
            {
                "name": "<script>alert(1)</script>^X",
                "date": "<b>2023</b>",
                "time": "<i>",
            }
        )
    )

    assert "<script>" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;, X" in rendered
    assert "&lt;b&gt;2023&lt;/b&gt;" in rendered
    assert "&lt;i&gt;" in rendered

import datetime
import html
import re
from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from apps.healthimaging.criteria import MAX_VALUE_LENGTH
from tests.imagesets.conftest import SCRIPT_NAME, links, result_ids
from tests.support.emulator import make_client

pytestmark = pytest.mark.django_db

LABELS = {
    "id_property": "Property",
    "id_value": "Value",
    "id_date_from": "From",
    "id_time_from": "From time",
    "id_date_to": "To",
    "id_time_to": "To time",
    "id_sort_by": "Sort by",
    "id_order": "Order",
    "id_page_size": "Results per page",
}


def list_url(datastore_id):
    return reverse("imagesets:image-set-list", args=[datastore_id])


def direct_search(url, datastore_id, criteria, limit=50):
    response = make_client(url).search_image_sets(
        datastoreId=datastore_id, searchCriteria=criteria, maxResults=limit
    )
    return response["imageSetsMetadataSummaries"]


def test_image_set_list_url_is_the_contract():
    assert list_url("a" * 32) == f"/datastores/{'a' * 32}/"


@pytest.mark.parametrize(
    "path",
    [
        "/datastores/ABCDEF0123456789ABCDEF0123456789/",
        "/datastores/abc/",
        f"/datastores/{'a' * 33}/",
        f"/datastores/{'a' * 32}/image-sets/{'b' * 31}/",
        f"/datastores/{'a' * 32}/image-sets/{'b' * 31}-/metadata.json",
    ],
)
def test_paths_with_malformed_ids_are_not_found(signed_in, path):
    assert signed_in.get(path).status_code == 404


def test_image_set_list_redirects_anonymous_users_to_login(client, browse_archive):
    url = list_url(browse_archive[0])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_image_set_list_shows_all_image_sets_newest_updated_first_on_arrival(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive
    expected = direct_search(
        healthimaging.url,
        datastore_id,
        {"sort": {"sortField": "updatedAt", "sortOrder": "DESC"}},
        limit=25,
    )

    response = signed_in.get(list_url(datastore_id))

    assert response.status_code == 200
    assert response.templates[0].name == "imagesets/image_set_list.html"
    body = response.content.decode()
    assert "<h1>browse</h1>" in body
    assert result_ids(body) == [item["imageSetId"] for item in expected]
    assert len(search_calls) == 1
    assert search_calls[0]["max_results"] == 25
    assert "Page 1" in body
    assert "Next page" in body
    assert "Previous page" not in body


def test_image_set_list_has_exactly_the_labelled_controls_and_buttons(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive

    body = signed_in.get(list_url(datastore_id)).content.decode()

    for control_id, label in LABELS.items():
        assert f'<label for="{control_id}">{label}</label>' in body
        assert f'id="{control_id}"' in body
    assert '<input type="date" name="date_from"' in body
    assert '<input type="time" name="time_from"' in body
    assert '<button type="submit" class="button">Search</button>' in body
    assert links(body, "Clear") == [list_url(datastore_id)]
    property_options = re.findall(
        r'<option value="([a-z_]*)"[^>]*>([^<]+)</option>',
        body.split('id="id_property"')[1].split("</select>")[0],
    )
    assert property_options == [
        ("", "All image sets"),
        ("patient_id", "Patient ID"),
        ("accession_number", "Accession number"),
        ("study_id", "Study ID"),
        ("study_instance_uid", "Study instance UID"),
        ("series_instance_uid", "Series instance UID"),
        ("created_at", "Created at"),
        ("updated_at", "Updated at"),
        ("study_date_time", "Study date and time"),
    ]
    assert '<option value="25" selected>25</option>' in body
    assert '<option value="desc" selected>Newest first</option>' in body
    assert '<option value="asc">Oldest first</option>' in body
    assert '<option value="updated_at" selected>Updated at</option>' in body


def test_search_form_works_with_and_without_htmx(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    url = list_url(datastore_id)

    body = signed_in.get(url).content.decode()

    form = re.search(r"<form[^>]*search-form[^>]*>", body).group(0)
    assert f'action="{url}"' in form
    assert 'method="get"' in form
    assert f'hx-get="{url}"' in form
    assert 'hx-target="#search"' in form
    assert 'hx-push-url="true"' in form


def test_results_show_every_column_readably(signed_in, healthimaging, browse_archive):
    datastore_id, _ = browse_archive
    first = direct_search(
        healthimaging.url,
        datastore_id,
        {"sort": {"sortField": "updatedAt", "sortOrder": "DESC"}},
        limit=1,
    )[0]
    tags = first["DICOMTags"]

    body = signed_in.get(list_url(datastore_id), {"page_size": "10"}).content.decode()

    for column in (
        "Patient name",
        "Patient ID",
        "Birth date",
        "Sex",
        "Accession number",
        "Study date and time",
        "Study description",
        "Modality",
        "Body part",
        "Series / instances",
        "Version",
        "Updated at",
    ):
        assert f'<th scope="col">{column}</th>' in body
    row = body.split(f'data-image-set-id="{first["imageSetId"]}"')[1].split("</tr>")[0]
    family, given = tags["DICOMPatientName"].split("^")[:2]
    detail = reverse(
        "imagesets:image-set-detail", args=[datastore_id, first["imageSetId"]]
    )
    assert f'<a href="{detail}">{html.escape(family)}, {html.escape(given)}' in row
    birth = tags["DICOMPatientBirthDate"]
    assert f"<td>{birth[:4]}-{birth[4:6]}-{birth[6:]}</td>" in row
    date, time = tags["DICOMStudyDate"], tags["DICOMStudyTime"]
    assert (
        f"{date[:4]}-{date[4:6]}-{date[6:]} {time[:2]}:{time[2:4]}:{time[4:6]}" in row
    )
    assert (
        f"<td>{tags['DICOMNumberOfStudyRelatedSeries']} / "
        f"{tags['DICOMNumberOfStudyRelatedInstances']}</td>"
    ) in row
    updated = first["updatedAt"].astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"{updated} UTC</time>" in row
    assert "<caption>" in body


def test_results_show_missing_values_as_not_recorded(
    signed_in, healthimaging, crafted_archive
):
    datastore_id, ids = crafted_archive

    body = signed_in.get(list_url(datastore_id)).content.decode()

    row = body.split(f'data-image-set-id="{ids[1]}"')[1].split("</tr>")[0]
    assert '>View<span class="visually-hidden"> image set' in row
    assert '<span class="visually-hidden">not recorded</span>' in row


def test_results_show_markup_in_a_patient_name_as_text(
    signed_in, healthimaging, crafted_archive
):
    datastore_id, _ = crafted_archive

    body = signed_in.get(list_url(datastore_id)).content.decode()

    assert SCRIPT_NAME not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_search_by_patient_id_finds_that_patients_image_sets(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive
    patient_id = direct_search(healthimaging.url, datastore_id, {}, limit=1)[0][
        "DICOMTags"
    ]["DICOMPatientId"]
    expected = direct_search(
        healthimaging.url,
        datastore_id,
        {
            "filters": [
                {"operator": "EQUAL", "values": [{"DICOMPatientId": patient_id}]}
            ],
            "sort": {"sortField": "updatedAt", "sortOrder": "DESC"},
        },
    )

    response = signed_in.get(
        list_url(datastore_id), {"property": "patient_id", "value": patient_id}
    )

    body = response.content.decode()
    assert result_ids(body) == [item["imageSetId"] for item in expected]
    assert f'value="{patient_id}"' in body
    assert '<option value="patient_id" selected>Patient ID</option>' in body
    assert len(search_calls) == 1


def test_search_by_study_date_range_finds_studies_in_the_range_oldest_first(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    expected = direct_search(
        healthimaging.url,
        datastore_id,
        {
            "filters": [
                {
                    "operator": "BETWEEN",
                    "values": [
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20200101"}},
                        {
                            "DICOMStudyDateAndTime": {
                                "DICOMStudyDate": "20241231",
                                "DICOMStudyTime": "235959.999999",
                            }
                        },
                    ],
                }
            ],
            "sort": {"sortField": "DICOMStudyDateAndTime", "sortOrder": "ASC"},
        },
    )

    response = signed_in.get(
        list_url(datastore_id),
        {
            "property": "study_date_time",
            "date_from": "2020-01-01",
            "date_to": "2024-12-31",
            "sort_by": "study_date_time",
            "order": "asc",
            "page_size": "50",
        },
    )

    body = response.content.decode()
    assert expected
    assert result_ids(body) == [item["imageSetId"] for item in expected]
    dates = [item["DICOMTags"]["DICOMStudyDate"] for item in expected]
    assert all("20200101" <= date <= "20241231" for date in dates)
    assert dates == sorted(dates)


def test_search_by_identifier_and_updated_range_narrows_by_update_time(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    newest = direct_search(healthimaging.url, datastore_id, {}, limit=1)[0]
    day = newest["updatedAt"].astimezone(datetime.UTC).date()
    patient_id = newest["DICOMTags"]["DICOMPatientId"]

    inside = signed_in.get(
        list_url(datastore_id),
        {"property": "patient_id", "value": patient_id, "date_from": day.isoformat()},
    ).content.decode()
    outside = signed_in.get(
        list_url(datastore_id),
        {
            "property": "patient_id",
            "value": patient_id,
            "date_to": (day - datetime.timedelta(days=36500)).isoformat(),
        },
    ).content.decode()

    assert newest["imageSetId"] in result_ids(inside)
    assert result_ids(outside) == []
    assert "No image sets match this search." in outside


def test_search_as_htmx_fragment_swaps_form_and_results(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive

    response = signed_in.get(
        list_url(datastore_id),
        {"page_size": "10"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="search",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "imagesets/partials/search.html"
    assert body.lstrip().startswith('<div id="search"')
    assert "<html" not in body
    assert "<form" in body
    assert '<section id="results"' in body
    assert len(result_ids(body)) == 10
    assert "HX-Request" in response["Vary"]
    assert len(search_calls) == 1


def test_image_set_list_as_history_restore_is_the_full_page(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive

    response = signed_in.get(
        list_url(datastore_id),
        {"page_size": "10"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )

    body = response.content.decode()
    assert "<html" in body
    assert "<h1>browse</h1>" in body
    assert len(result_ids(body)) == 10
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    ("parameters", "field", "message"),
    [
        (
            {"property": "patient_id", "value": ""},
            "value",
            "Enter the Patient ID to search for.",
        ),
        (
            {"property": "accession_number", "value": "   "},
            "value",
            "Enter the Accession number to search for.",
        ),
        (
            {"property": "study_id", "value": "x" * (MAX_VALUE_LENGTH + 1)},
            "value",
            f"Study ID can be at most {MAX_VALUE_LENGTH} characters.",
        ),
        (
            {"property": "created_at"},
            "date_from",
            "Enter a From or To date to search by Created at.",
        ),
        (
            {"property": "study_date_time"},
            "date_from",
            "Enter a From or To date to search by Study date and time.",
        ),
        (
            {"date_from": "2024-03-02", "date_to": "2024-03-01"},
            "date_from",
            "From must be on or before To.",
        ),
        (
            {
                "property": "updated_at",
                "date_from": "2024-03-01",
                "time_from": "12:00",
                "date_to": "2024-03-01",
                "time_to": "11:59",
            },
            "date_from",
            "From must be on or before To.",
        ),
        ({"date_from": "2023-02-30"}, "date_from", "Enter a valid date."),
        ({"date_to": "2023-13-01"}, "date_to", "Enter a valid date."),
        (
            {"time_from": "25:99", "date_from": "2023-01-01"},
            "time_from",
            "Enter a valid time.",
        ),
        (
            {"property": "shoe_size", "value": "42"},
            "property",
            "Select a valid choice.",
        ),
        ({"sort_by": "patient_name"}, "sort_by", "Select a valid choice."),
        ({"page_size": "1000"}, "page_size", "Select a valid choice."),
    ],
)
def test_search_shows_each_problem_beside_its_field_and_calls_nothing(
    signed_in, healthimaging, browse_archive, search_calls, parameters, field, message
):
    datastore_id, _ = browse_archive

    response = signed_in.get(list_url(datastore_id), parameters)

    assert response.status_code == 200
    body = response.content.decode()
    error = re.search(
        rf'<p class="form__error" id="id_{field}_error">([^<]*)</p>', body
    )
    assert error is not None, body
    assert html.unescape(error.group(1)).startswith(message)
    control = re.search(rf'<(?:input|select)[^>]*id="id_{field}"[^>]*>', body).group(0)
    assert f'aria-describedby="id_{field}_error"' in control
    assert 'aria-invalid="true"' in control
    assert "Fix the search above" in body
    assert '<table class="table table--results"' not in body
    assert search_calls == []


@pytest.mark.parametrize(
    "uid",
    ["1.2.abc", "1..2", ".1.2", "1.2.", "12345", "1.2 .3", " 1.2.3 4", "1.2.3\t4"],
)
@pytest.mark.parametrize("prop", ["study_instance_uid", "series_instance_uid"])
def test_search_refuses_malformed_uids(
    signed_in, healthimaging, browse_archive, search_calls, uid, prop
):
    datastore_id, _ = browse_archive

    response = signed_in.get(list_url(datastore_id), {"property": prop, "value": uid})

    body = response.content.decode()
    assert "is digits and periods only, with at least one period" in body
    assert 'aria-describedby="id_value_error"' in body
    assert f'value="{html.escape(uid)}"' in body
    assert search_calls == []


def test_search_accepts_a_well_formed_uid(signed_in, healthimaging, browse_archive):
    datastore_id, _ = browse_archive
    first = direct_search(healthimaging.url, datastore_id, {}, limit=1)[0]
    uid = first["DICOMTags"]["DICOMStudyInstanceUID"]

    body = signed_in.get(
        list_url(datastore_id), {"property": "study_instance_uid", "value": uid}
    ).content.decode()

    assert first["imageSetId"] in result_ids(body)
    assert "form__error" not in body


def test_invalid_search_keeps_everything_typed(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive

    body = signed_in.get(
        list_url(datastore_id),
        {
            "property": "study_instance_uid",
            "value": "1.2.x",
            "date_from": "2024-01-02",
            "time_from": "08:30",
            "date_to": "2024-02-03",
            "time_to": "17:45",
            "sort_by": "created_at",
            "order": "asc",
            "page_size": "50",
        },
    ).content.decode()

    assert 'value="1.2.x"' in body
    assert 'value="2024-01-02"' in body
    assert 'value="08:30"' in body
    assert 'value="2024-02-03"' in body
    assert 'value="17:45"' in body
    assert '<option value="study_instance_uid" selected>' in body
    assert '<option value="created_at" selected>' in body
    assert '<option value="asc" selected>' in body
    assert '<option value="50" selected>' in body


def test_invalid_search_as_htmx_returns_the_form_with_its_errors(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive

    response = signed_in.get(
        list_url(datastore_id),
        {"property": "patient_id"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="search",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="search"')
    assert "Enter the Patient ID to search for." in body
    assert "Fix the search above" in body
    assert search_calls == []


def test_search_dates_are_read_in_the_current_time_zone(
    signed_in, healthimaging, browse_archive, search_calls, settings
):
    settings.TIME_ZONE = "America/New_York"
    datastore_id, _ = browse_archive

    signed_in.get(
        list_url(datastore_id), {"property": "updated_at", "date_from": "2024-01-15"}
    )

    lower = search_calls[0]["criteria"]["filters"][0]["values"][0]["updatedAt"]
    assert lower == datetime.datetime(2024, 1, 15, 5, 0, tzinfo=datetime.UTC)


def test_pages_carry_no_inline_scripts(signed_in, healthimaging, browse_archive):
    datastore_id, ids = browse_archive

    for url in (
        reverse("imagesets:datastore-list"),
        list_url(datastore_id),
        reverse("imagesets:image-set-detail", args=[datastore_id, ids[0]]),
    ):
        body = signed_in.get(url).content.decode()
        assert all('src="' in tag.split(">")[0] for tag in body.split("<script")[1:])
        assert " on" not in "".join(re.findall(r"<[a-z]+[^>]*\bon[a-z]+=", body))


def test_an_htmx_request_of_an_expired_session_loads_the_login_page_whole(
    client, browse_archive
):
    url = f"{list_url(browse_archive[0])}?page=2&cursor=abc"

    response = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")

    assert response.status_code == 200
    login, _, query = response["HX-Redirect"].partition("?")
    assert login == reverse("login")
    assert parse_qs(query) == {"next": [url]}

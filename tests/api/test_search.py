"""The API's search is the page's search: the same image sets in the same order, page after
page, as the image sets tab and as boto3's own paginator given the same criteria."""

from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.urls import reverse

from apps.imagesets.forms import ImageSetSearchForm
from tests.imagesets.conftest import links, result_ids
from tests.support.emulator import make_client

pytestmark = pytest.mark.django_db

SEARCHES = [
    "page_size=10",
    "page_size=10&order=asc",
    "page_size=10&sort_by=created_at",
    "page_size=25&sort_by=study_date_time&order=asc",
    "page_size=10&property=created_at&date_from=2024-01-01&date_to=2025-12-31",
    "page_size=10&property=updated_at&date_from=2025-06-01&time_from=08:30",
    "page_size=10&property=study_date_time&date_from=2010-01-01&date_to=2020-12-31&sort_by=study_date_time",
]


def api_ids(api, datastore_id, query):
    ids, next_token = [], None
    url = reverse("api:image-set-list", args=[datastore_id])
    for _ in range(50):
        following = f"&{urlencode({'next_token': next_token})}" if next_token else ""
        page = api.get(f"{url}?{query}{following}").json()
        ids += [item["image_set_id"] for item in page["items"]]
        next_token = page["next_token"]
        if next_token is None:
            return ids
    raise AssertionError("more than 50 pages")


def page_ids(client, datastore_id, query):
    ids = []
    url = reverse("imagesets:image-set-list", args=[datastore_id]) + f"?{query}"
    for _ in range(50):
        body = client.get(url).content.decode()
        ids += result_ids(body)
        following = links(body, "Next page")
        if not following:
            return ids
        url = following[0]
    raise AssertionError("more than 50 pages")


def paginator_ids(endpoint, datastore_id, query):
    form = ImageSetSearchForm(QueryDict(query))
    assert form.is_valid(), form.errors
    paginator = make_client(endpoint).get_paginator("search_image_sets")
    pages = paginator.paginate(
        datastoreId=datastore_id,
        searchCriteria=form.criteria,
        PaginationConfig={"PageSize": form.cleaned_data["page_size"]},
    )
    return [
        item["imageSetId"]
        for page in pages
        for item in page["imageSetsMetadataSummaries"]
    ]


@pytest.mark.parametrize("query", SEARCHES)
def test_api_page_and_boto3_paginator_find_the_same_image_sets_in_the_same_order(
    query, api_as, client, make_user, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    client.force_login(make_user("viewer", username="page-reader"))

    through_api = api_ids(api_as("viewer"), datastore_id, query)
    through_page = page_ids(client, datastore_id, query)
    through_boto3 = paginator_ids(healthimaging.url, datastore_id, query)

    assert through_api, "the search should find something"
    assert through_api == through_page == through_boto3
    assert len(set(through_api)) == len(through_api)


def test_a_patient_id_search_finds_that_patients_image_sets(
    api_as, browse_archive, healthimaging
):
    datastore_id, _ = browse_archive
    api = api_as("viewer")
    url = reverse("api:image-set-list", args=[datastore_id])
    first = api.get(url).json()["items"][0]
    patient_id = first["tags"]["patient_id"]

    found = api.get(url, {"property": "patient_id", "value": patient_id}).json()[
        "items"
    ]

    assert first["image_set_id"] in {item["image_set_id"] for item in found}
    assert {item["tags"]["patient_id"] for item in found} == {patient_id}

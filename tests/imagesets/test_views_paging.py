from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from tests.imagesets.conftest import links, result_ids
from tests.support.emulator import make_client

pytestmark = pytest.mark.django_db


def list_url(datastore_id):
    return reverse("imagesets:image-set-list", args=[datastore_id])


def every_image_set_directly(url, datastore_id, criteria):
    paginator = make_client(url).get_paginator("search_image_sets")
    return [
        item["imageSetId"]
        for page in paginator.paginate(
            datastoreId=datastore_id,
            searchCriteria=criteria,
            PaginationConfig={"PageSize": 25},
        )
        for item in page["imageSetsMetadataSummaries"]
    ]


def one(items):
    assert len(items) == 1, items
    return items[0]


def walk_forward(client, url, **headers):
    """Follow `Next page` from `url` to the end; each page's URL and image set IDs."""
    pages = []
    while url:
        body = client.get(url, **headers).content.decode()
        pages.append((url, result_ids(body), body))
        following = links(body, "Next page")
        url = one(following) if following else None
    return pages


def test_paging_visits_every_image_set_once_in_order_one_call_per_page(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, ids = browse_archive
    expected = every_image_set_directly(
        healthimaging.url,
        datastore_id,
        {"sort": {"sortField": "updatedAt", "sortOrder": "DESC"}},
    )

    pages = walk_forward(signed_in, f"{list_url(datastore_id)}?page_size=25")

    assert [len(page_ids) for _, page_ids, _ in pages] == [25, 25, 25, 25, 20]
    visited = [image_set_id for _, page_ids, _ in pages for image_set_id in page_ids]
    assert visited == expected
    assert sorted(visited) == sorted(ids)
    assert len(search_calls) == len(pages)
    for number, (url, _, body) in enumerate(pages, start=1):
        assert f"Page {number}" in body
        query = parse_qs(urlsplit(url).query)
        if number == 1:
            assert "cursor" not in query
        else:
            assert query["page"] == [str(number)]
            # The cursor in page N's URL is the nextToken of page N-1's call, and the
            # one call for page N sends it.
            assert query["cursor"] == [search_calls[number - 2]["result"].next_token]
            assert search_calls[number - 1]["next_token"] == query["cursor"][0]
    assert "Next page" not in pages[-1][2]


def test_paging_with_htmx_swaps_only_the_results(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive
    first = signed_in.get(list_url(datastore_id)).content.decode()
    next_url = one(links(first, "Next page"))

    response = signed_in.get(next_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert "<form" not in body
    assert "Page 2" in body
    assert "HX-Request" in response["Vary"]
    link = next(tag for tag in body.split("<a ")[1:] if ">Next page</a>" in tag)
    assert 'hx-target="#results"' in link
    assert 'hx-swap="outerHTML"' in link
    assert 'hx-push-url="true"' in link
    assert 'hx-get="' in link
    assert 'href="' in link
    assert len(search_calls) == 2


def test_paging_through_htmx_and_full_pages_gives_the_same_pages(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    start = f"{list_url(datastore_id)}?page_size=25"

    full = [page_ids for _, page_ids, _ in walk_forward(signed_in, start)]
    fragments = [
        page_ids
        for _, page_ids, _ in walk_forward(
            signed_in, start, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
        )
    ]

    # (Cursors carry their expiry time, so the URLs may differ by a second.)
    assert len(full) == 5
    assert fragments == full


def test_previous_page_returns_to_the_same_items(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive
    pages = walk_forward(signed_in, f"{list_url(datastore_id)}?page_size=25")
    calls_forward = len(search_calls)

    url, page_ids, body = pages[-1]
    seen = [page_ids]
    for number in range(len(pages) - 1, 0, -1):
        url = one(links(body, "Previous page"))
        body = signed_in.get(
            url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
        ).content.decode()
        assert f"Page {number}" in body
        seen.append(result_ids(body))

    assert list(reversed(seen)) == [page_ids for _, page_ids, _ in pages]
    assert "Previous page" not in body
    assert "First page" not in body
    assert len(search_calls) == calls_forward + len(pages) - 1


def test_a_bookmarked_page_shows_the_same_items_in_a_new_session(
    signed_in, healthimaging, browse_archive, user
):
    datastore_id, _ = browse_archive
    pages = walk_forward(signed_in, f"{list_url(datastore_id)}?page_size=25")
    url, page_ids, _ = pages[2]

    other = Client()
    other.force_login(user)
    body = other.get(url).content.decode()

    assert result_ids(body) == page_ids
    assert "Page 3" in body
    assert "Previous page" not in body
    assert links(body, "First page") == [
        f"{list_url(datastore_id)}?sort_by=updated_at&order=desc&page_size=25"
    ]
    following = other.get(one(links(body, "Next page"))).content.decode()
    assert result_ids(following) == pages[3][1]


def test_page_two_links_back_to_page_one_even_in_a_new_session(
    signed_in, healthimaging, browse_archive, user
):
    datastore_id, _ = browse_archive
    first = signed_in.get(list_url(datastore_id)).content.decode()
    second_url = one(links(first, "Next page"))

    other = Client()
    other.force_login(user)
    body = other.get(second_url).content.decode()

    assert links(body, "Previous page") == [
        f"{list_url(datastore_id)}?sort_by=updated_at&order=desc&page_size=25"
    ]


def test_an_expired_cursor_offers_the_first_page_instead_of_an_error(
    signed_in, healthimaging, browse_archive, search_calls
):
    datastore_id, _ = browse_archive

    response = signed_in.get(
        list_url(datastore_id),
        {"page": "3", "cursor": "not-a-token", "page_size": "10"},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "These results have expired" in body
    assert links(body, "Go to page 1") == [
        f"{list_url(datastore_id)}?sort_by=updated_at&order=desc&page_size=10"
    ]
    assert result_ids(body) == []
    assert len(search_calls) == 1


def test_a_cursor_from_another_search_counts_as_expired(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    oldest_first = signed_in.get(
        list_url(datastore_id), {"order": "asc"}
    ).content.decode()
    foreign = parse_qs(urlsplit(one(links(oldest_first, "Next page"))).query)["cursor"][
        0
    ]

    response = signed_in.get(
        list_url(datastore_id),
        {"order": "desc", "page": "2", "cursor": foreign},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
    )

    assert response.status_code == 200
    assert "These results have expired" in response.content.decode()


def test_a_later_page_without_cursor_uses_the_sessions_trail_or_expires(
    signed_in, healthimaging, browse_archive, search_calls, user
):
    datastore_id, _ = browse_archive
    pages = walk_forward(signed_in, f"{list_url(datastore_id)}?page_size=25")
    calls = len(search_calls)
    bare = f"{list_url(datastore_id)}?page_size=25&page=3"

    remembered = signed_in.get(bare).content.decode()
    other = Client()
    other.force_login(user)
    unknown = other.get(bare).content.decode()

    assert result_ids(remembered) == pages[2][1]
    assert "These results have expired" in unknown
    assert len(search_calls) == calls + 1


@pytest.mark.parametrize("page", ["0", "-1", "abc", "", "99999999999"])
def test_a_nonsense_page_number_is_page_one(
    signed_in, healthimaging, browse_archive, page
):
    datastore_id, _ = browse_archive

    body = signed_in.get(list_url(datastore_id), {"page": page}).content.decode()

    assert "Page 1" in body
    assert len(result_ids(body)) == 25

import pytest
from django.urls import reverse

from apps.emulator.server import EmulatorServer
from apps.healthimaging.gateway import get_gateway
from tests.support.emulator import make_client

pytestmark = pytest.mark.django_db

URL = "/datastores/"


def test_datastore_list_url_is_the_contract():
    assert reverse("imagesets:datastore-list") == URL


def test_home_redirects_to_the_data_stores(signed_in):
    response = signed_in.get("/")

    assert response.status_code == 302
    assert response["Location"] == URL


def test_datastore_list_redirects_anonymous_users_to_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={URL}"


def test_datastore_list_shows_every_data_store_with_a_link_to_its_image_sets(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    every = make_client(healthimaging.url).list_datastores()["datastoreSummaries"]

    response = signed_in.get(URL)

    assert response.status_code == 200
    assert response.templates[0].name == "imagesets/datastore_list.html"
    body = response.content.decode()
    assert "<caption>" in body
    for scope_col in ("Name", "ID", "Status", "Created", "Updated"):
        assert f'<th scope="col">{scope_col}</th>' in body
    for datastore in every:
        assert datastore["datastoreId"] in body
    assert f'href="/datastores/{datastore_id}/">browse</a>' in body
    assert "ACTIVE" in body
    assert "HX-Request" in response["Vary"]


def test_datastore_list_lists_every_page_of_data_stores(
    signed_in, healthimaging, browse_archive, crafted_archive, monkeypatch
):
    gateway = get_gateway()
    original = gateway.client.list_datastores

    def one_at_a_time(**kwargs):
        return original(**{**kwargs, "maxResults": 1})

    monkeypatch.setattr(gateway.client, "list_datastores", one_at_a_time)
    every = make_client(healthimaging.url).list_datastores()["datastoreSummaries"]

    body = signed_in.get(URL).content.decode()

    assert len(every) > 1
    assert all(datastore["datastoreId"] in body for datastore in every)


def test_datastore_list_as_htmx_fragment_is_only_the_table(
    signed_in, healthimaging, browse_archive
):
    response = signed_in.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="datastores")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="datastores"')
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_datastore_list_as_history_restore_is_the_full_page(
    signed_in, healthimaging, browse_archive
):
    response = signed_in.get(
        URL, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    body = response.content.decode()
    assert "<html" in body
    assert '<section id="datastores"' in body
    assert "HX-Request" in response["Vary"]


def test_datastore_list_shows_an_empty_state_without_data_stores(
    signed_in, settings, tmp_path
):
    empty = EmulatorServer(str(tmp_path / "empty.sqlite3"), update_delay=0).start()
    try:
        settings.HEALTHIMAGING_ENDPOINT_URL = empty.url
        get_gateway.cache_clear()

        response = signed_in.get(URL)
    finally:
        empty.stop()

    assert response.status_code == 200
    body = response.content.decode()
    assert "No data stores yet" in body
    assert "<table" not in body


def test_header_links_to_the_data_stores(signed_in, healthimaging, browse_archive):
    body = signed_in.get(URL).content.decode()

    assert (
        '<a class="site-header__link" href="/datastores/" aria-current="true">Data stores</a>'
        in body
    )

import contextlib
import socket

import pytest
from django.urls import reverse

from apps.healthimaging import errors
from apps.healthimaging.gateway import get_gateway
from tests.imagesets.conftest import links
from tests.support.emulator import control, make_client

pytestmark = pytest.mark.django_db

UNKNOWN = "0" * 32
THROTTLED = "HealthImaging is receiving too many requests"
UNREACHABLE = "HealthImaging can not be reached"


@pytest.fixture
def closed_port_endpoint(settings):
    """The portal's gateway pointed at a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.HEALTHIMAGING_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    get_gateway.cache_clear()


def fail(monkeypatch, operation, error):
    def raising(*args, **kwargs):
        raise error

    monkeypatch.setattr(get_gateway(), operation, raising)


def urls(datastore_id, image_set_id):
    return {
        "datastores": reverse("imagesets:datastore-list"),
        "results": reverse("imagesets:image-set-list", args=[datastore_id])
        + "?page_size=10",
        "image-set": reverse(
            "imagesets:image-set-detail", args=[datastore_id, image_set_id]
        ),
    }


def assert_retry_page(response, url, message):
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "HX-Request" in response["Vary"]
    body = response.content.decode()
    assert "<html" in body
    assert message in body
    assert links(body, "Try again") == [url]
    assert '<table class="table table--results"' not in body


@pytest.mark.parametrize("fragment", ["datastores", "results", "image-set"])
def test_an_unreachable_service_is_a_503_page_with_a_way_to_retry(
    signed_in, closed_port_endpoint, fragment
):
    url = urls(UNKNOWN, "1" * 32)[fragment]

    response = signed_in.get(url)

    assert_retry_page(response, url, UNREACHABLE)


def test_an_unreachable_service_in_an_htmx_request_is_a_200_fragment(
    signed_in, closed_port_endpoint
):
    url = urls(UNKNOWN, "1" * 32)["results"]

    response = signed_in.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="search")

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert UNREACHABLE in body
    assert links(body, "Try again") == [url]
    assert response["HX-Retarget"] == "#results"
    assert response["HX-Reswap"] == "outerHTML"
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    ("fragment", "operation"),
    [
        ("datastores", "list_datastores"),
        ("results", "search_image_sets"),
        ("results", "get_datastore"),
        ("image-set", "get_image_set"),
        ("image-set", "get_image_set_metadata"),
    ],
)
def test_throttling_is_a_503_page_with_a_way_to_retry(
    signed_in, healthimaging, browse_archive, monkeypatch, fragment, operation
):
    datastore_id, ids = browse_archive
    url = urls(datastore_id, ids[0])[fragment]
    fail(
        monkeypatch,
        operation,
        errors.Throttled("Rate exceeded", code="ThrottlingException"),
    )

    assert_retry_page(signed_in.get(url), url, THROTTLED)


@pytest.mark.parametrize(
    ("fragment", "operation"),
    [
        ("datastores", "list_datastores"),
        ("results", "search_image_sets"),
        ("image-set", "get_image_set"),
    ],
)
def test_throttling_in_an_htmx_request_replaces_only_the_fragment(
    signed_in, healthimaging, browse_archive, monkeypatch, fragment, operation
):
    datastore_id, ids = browse_archive
    url = urls(datastore_id, ids[0])[fragment]
    fail(
        monkeypatch,
        operation,
        errors.Throttled("Rate exceeded", code="ThrottlingException"),
    )

    response = signed_in.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=fragment)

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<section id="{fragment}"')
    assert THROTTLED in body
    assert response["HX-Retarget"] == f"#{fragment}"


def test_throttling_by_the_service_reaches_the_page(
    signed_in, healthimaging, browse_archive, monkeypatch
):
    """The emulator's throttle at the documented rates: drain ListDatastores' bucket, then ask."""
    direct = make_client(healthimaging.url)
    # One attempt per call, so the bucket can not refill while botocore backs off and retries.
    monkeypatch.setattr(get_gateway(), "client", make_client(healthimaging.url))
    control(healthimaging.url, "config", {"throttling": True})
    try:
        for _ in range(5):  # the bucket refills 5 tokens a second: try again if it did
            with contextlib.suppress(direct.exceptions.ThrottlingException):
                for _ in range(30):
                    direct.list_datastores()
            response = signed_in.get(reverse("imagesets:datastore-list"))
            if response.status_code != 200:
                break
    finally:
        control(healthimaging.url, "config", {"throttling": False})

    assert_retry_page(response, reverse("imagesets:datastore-list"), THROTTLED)


def test_an_unknown_data_store_is_a_404_page_with_a_way_back(signed_in, healthimaging):
    response = signed_in.get(reverse("imagesets:image-set-list", args=[UNKNOWN]))

    assert response.status_code == 404
    body = response.content.decode()
    assert errors.NotFound.user_message in body
    assert links(body, "Back to data stores") == [reverse("imagesets:datastore-list")]
    assert "Try again" not in body


def test_an_unknown_image_set_is_a_404_page_with_a_way_back(
    signed_in, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive

    for name in ("imagesets:image-set-detail", "imagesets:image-set-metadata"):
        response = signed_in.get(reverse(name, args=[datastore_id, UNKNOWN]))

        assert response.status_code == 404
        body = response.content.decode()
        assert errors.NotFound.user_message in body
        assert links(body, "Back to the image sets of this data store") == [
            reverse("imagesets:image-set-list", args=[datastore_id])
        ]


def test_an_unexpected_service_refusal_is_a_502_page_not_a_500(
    signed_in, healthimaging, browse_archive, monkeypatch
):
    datastore_id, _ = browse_archive
    fail(
        monkeypatch,
        "search_image_sets",
        errors.AccessDenied("no", code="AccessDeniedException"),
    )

    response = signed_in.get(reverse("imagesets:image-set-list", args=[datastore_id]))

    assert response.status_code == 502
    assert errors.AccessDenied.user_message in response.content.decode()


def test_a_refused_search_without_a_cursor_is_not_called_expired(
    signed_in, healthimaging, browse_archive, monkeypatch
):
    datastore_id, _ = browse_archive
    fail(
        monkeypatch,
        "search_image_sets",
        errors.InvalidRequest("bad", code="ValidationException"),
    )

    response = signed_in.get(reverse("imagesets:image-set-list", args=[datastore_id]))

    assert response.status_code == 502
    assert "These results have expired" not in response.content.decode()


def test_failures_log_no_patient_data(
    signed_in, healthimaging, browse_archive, monkeypatch, caplog
):
    datastore_id, _ = browse_archive
    fail(
        monkeypatch,
        "search_image_sets",
        errors.Throttled("Rate exceeded", code="ThrottlingException"),
    )

    with caplog.at_level("INFO"):
        signed_in.get(
            reverse("imagesets:image-set-list", args=[datastore_id]),
            {"property": "patient_id", "value": "PATIENT-4711"},
        )

    assert "PATIENT-4711" not in caplog.text

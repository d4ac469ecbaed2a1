"""Every error the API answers is JSON with a stable `code` and a `message` for people:
400 (per field), 401, 403, 404, 405, 409, 415, 429 (the user's rate limit and
HealthImaging's), 502, 503. Bad input is never a 500."""

import contextlib
import socket

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.healthimaging import errors
from apps.healthimaging.gateway import get_gateway
from tests.support.emulator import control, make_client

pytestmark = pytest.mark.django_db

UNKNOWN = "0" * 32


def search_url(datastore_id, query=""):
    return reverse("api:image-set-list", args=[datastore_id]) + query


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    return body


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?page_size=7", "page_size", "Select a valid choice."),
        ("?property=patient_id", "value", "Enter"),
        (
            "?property=created_at&date_from=2024-02-30",
            "date_from",
            "Enter a valid date",
        ),
        ("?property=nonsense&value=1", "property", "Select a valid choice."),
        ("?sort_by=patient_name", "sort_by", "Select a valid choice."),
        ("?property=study_instance_uid&value=not-a-uid", "value", ""),
    ],
)
def test_an_invalid_search_is_a_400_with_the_problem_beside_its_field(
    api_as, image_set, query, field, message
):
    datastore_id, _ = image_set
    body = assert_error(
        api_as("viewer").get(search_url(datastore_id, query)), 400, "invalid"
    )
    assert field in body["fields"]
    assert body["fields"][field][0].startswith(message)


def test_a_date_range_the_wrong_way_round_is_a_400_for_the_whole_search(
    api_as, image_set
):
    datastore_id, _ = image_set
    body = assert_error(
        api_as("viewer").get(
            search_url(
                datastore_id,
                "?property=created_at&date_from=2025-02-01&date_to=2024-01-01",
            )
        ),
        400,
        "invalid",
    )
    assert body["fields"]


def test_a_next_token_from_nowhere_is_a_400_that_says_to_search_again(
    api_as, image_set
):
    datastore_id, _ = image_set
    body = assert_error(
        api_as("viewer").get(search_url(datastore_id, "?next_token=forged")),
        400,
        "invalid",
    )
    assert "Search again" in body["fields"]["next_token"][0]


@pytest.mark.parametrize("version", ["0", "-1", "abc", "99999999999999999999"])
def test_a_version_that_is_not_a_version_number_is_a_400(api_as, image_set, version):
    datastore_id, image_set_id = image_set
    url = reverse("api:image-set-metadata", args=[datastore_id, image_set_id])
    body = assert_error(
        api_as("viewer").get(f"{url}?version={version}"), 400, "invalid"
    )
    assert "version" in body["fields"]


def test_malformed_json_is_a_400_parse_error(api_as, image_set):
    datastore_id, image_set_id = image_set
    response = api_as("editor").post(
        reverse("api:edit-create", args=[datastore_id, image_set_id]),
        data="{not json",
        content_type="application/json",
    )
    assert_error(response, 400, "parse_error")


def test_a_form_encoded_body_is_a_415(api_as, image_set):
    datastore_id, image_set_id = image_set
    response = api_as("editor").post(
        reverse("api:edit-create", args=[datastore_id, image_set_id]),
        data={"reason": "x"},
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hip_nothing_here",
        "Bearer",
        "Bearer a b",
        "Token abc",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_a_bad_credential_is_a_401(header):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get(reverse("api:datastore-list"))
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_token_is_a_401_from_the_next_request(make_user):
    user = make_user("viewer")
    token, plaintext = tokens.token_create(
        user=user, name="script", expires_in_days=30, request=None
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert (
        api.get(reverse("api:edit-list")).status_code == 403
    )  # authenticated: a viewer

    tokens.token_revoke(user=user, token_id=token.pk, request=None)

    assert_error(api.get(reverse("api:edit-list")), 401, "authentication_failed")


def test_unknown_things_are_404s(api_as, image_set):
    datastore_id, _ = image_set
    api = api_as("admin")
    assert_error(
        api.get(reverse("api:datastore-detail", args=[UNKNOWN])), 404, "not_found"
    )
    assert_error(
        api.get(reverse("api:image-set-detail", args=[datastore_id, UNKNOWN])),
        404,
        "not_found",
    )
    assert_error(
        api.get(
            reverse("api:edit-detail", args=["00000000-0000-4000-8000-000000000000"])
        ),
        404,
        "not_found",
    )
    assert_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error(api.get("/api/v1/datastores/NOT-AN-ID/"), 404, "not_found")
    assert_error(api.get(reverse("api:edit-list") + "?page=999"), 404, "not_found")


def test_an_undocumented_method_is_a_405(api_as):
    response = api_as("admin").delete(reverse("api:datastore-list"))
    assert_error(response, 405, "method_not_allowed")


def test_going_over_the_users_rate_limit_is_a_429_with_retry_after(api_as, settings):
    settings.API_READ_RATE = "3 per minute"
    api = api_as("editor")
    other = api_as("admin")
    url = reverse("api:edit-list")  # answers without HealthImaging

    statuses = [api.get(url).status_code for _ in range(3)]
    over = api.get(url)

    assert statuses == [200, 200, 200]
    body = assert_error(over, 429, "rate_limited")
    assert "Too many requests" in body["message"]
    assert 1 <= int(over["Retry-After"]) <= 60
    assert other.get(url).status_code == 200  # per user: the others are not held up


def test_writes_have_their_own_smaller_limit(api_as, settings, image_set):
    settings.API_WRITE_RATE = "1 per minute"
    datastore_id, image_set_id = image_set
    api = api_as("editor")
    url = reverse("api:edit-create", args=[datastore_id, image_set_id])

    first = api.post(url, {}, format="json")
    second = api.post(url, {}, format="json")

    assert first.status_code == 400
    assert_error(second, 429, "rate_limited")
    assert api.get(reverse("api:edit-list")).status_code == 200  # reads still go


def test_a_rate_limiter_outage_lets_requests_through(api_as, settings, caplog):
    settings.API_RATE_LIMIT_STORAGE_URL = "redis://127.0.0.1:9/0"
    response = api_as("editor").get(reverse("api:edit-list"))
    assert response.status_code == 200
    assert "API rate limiter unavailable" in caplog.text


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.NotFound(), 404, "not_found"),
        (errors.Throttled(), 429, "healthimaging_throttled"),
        (errors.QuotaExceeded(), 400, "quota_exceeded"),
        (errors.Unavailable(), 503, "healthimaging_unavailable"),
        (errors.Locked(), 409, "conflict"),
        (errors.AccessDenied(), 502, "healthimaging_error"),
        (errors.InvalidRequest(), 502, "healthimaging_error"),
    ],
)
def test_each_healthimaging_failure_has_its_status_code_and_words(
    api_as, monkeypatch, error, status, code
):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(get_gateway(), "list_datastores", failing)
    response = api_as("viewer").get(reverse("api:datastore-list"))
    body = assert_error(response, status, code)
    assert body["message"] == error.user_message
    if status in (429, 503):
        assert response["Retry-After"] == "5"


@pytest.fixture
def closed_port_endpoint(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.HEALTHIMAGING_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    get_gateway.cache_clear()


def test_an_unreachable_healthimaging_is_a_503(api_as, closed_port_endpoint):
    response = api_as("viewer").get(reverse("api:datastore-list"))
    body = assert_error(response, 503, "healthimaging_unavailable")
    assert body["message"] == errors.Unavailable.user_message
    assert response["Retry-After"] == "5"


def test_throttling_by_the_service_is_a_429(api_as, healthimaging, monkeypatch):
    """The emulator's throttle at the documented rates: drain ListDatastores' bucket."""
    api = api_as("viewer")
    direct = make_client(healthimaging.url)
    monkeypatch.setattr(get_gateway(), "client", make_client(healthimaging.url))
    control(healthimaging.url, "config", {"throttling": True})
    try:
        for _ in range(5):
            with contextlib.suppress(direct.exceptions.ThrottlingException):
                for _ in range(30):
                    direct.list_datastores()
            response = api.get(reverse("api:datastore-list"))
            if response.status_code != 200:
                break
    finally:
        control(healthimaging.url, "config", {"throttling": False})

    assert_error(response, 429, "healthimaging_throttled")
    assert response["Retry-After"] == "5"

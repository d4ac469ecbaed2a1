"""Every API endpoint for every role, as the pages' matrix does for pages.

No credentials: 401 with `WWW-Authenticate: Bearer`. A role without the permission: 403
with the `permission_denied` code, and not one HealthImaging call (the check comes first).
A role with it: whatever the endpoint answers for the request, never 401 or 403.
"""

import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.api import urls as api_urls
from tests.support.emulator import clear_emulator_calls, emulator_calls

pytestmark = pytest.mark.django_db

BROWSE = {"viewer", "editor", "admin"}
EDIT = {"editor", "admin"}
ADMIN = {"admin"}
UNKNOWN_EDIT = uuid.UUID("00000000-0000-4000-8000-000000000000")

# (url name, method, what the url needs, roles allowed)
ROUTES = [
    ("api:datastore-list", "get", "none", BROWSE),
    ("api:datastore-detail", "get", "datastore", BROWSE),
    ("api:image-set-list", "get", "datastore", BROWSE),
    ("api:image-set-detail", "get", "image_set", BROWSE),
    ("api:image-set-metadata", "get", "image_set", BROWSE),
    ("api:version-list", "get", "image_set", BROWSE),
    ("api:diff", "get", "image_set", BROWSE),
    ("api:edit-create", "post", "image_set", EDIT),
    ("api:revert-create", "post", "image_set", ADMIN),
    ("api:edit-list", "get", "none", EDIT),
    ("api:edit-detail", "get", "edit", EDIT),
    ("api:edit-reapply", "post", "edit", EDIT),
    ("api:edit-check-again", "post", "edit", EDIT),
    ("api:import-job-list", "get", "datastore", BROWSE),
    ("api:import-job-list", "post", "datastore", ADMIN),
    ("api:import-job-detail", "get", "job", BROWSE),
    ("api:audit-event-list", "get", "none", ADMIN),
    ("api:audit-event-export", "get", "none", ADMIN),
]
# Pages for people and the schema: any signed-in user, with or without a role.
OPEN_TO_SIGNED_IN = {"api:schema", "api:docs"}


def test_the_matrix_covers_every_api_route():
    names = {f"api:{pattern.name}" for pattern in api_urls.urlpatterns}
    assert names == {name for name, *_ in ROUTES} | OPEN_TO_SIGNED_IN


def url_for(name, needs, image_set):
    datastore_id, image_set_id = image_set
    args = {
        "none": [],
        "datastore": [datastore_id],
        "image_set": [datastore_id, image_set_id],
        "edit": [UNKNOWN_EDIT],
        "job": [datastore_id, "0" * 32],
    }[needs]
    return reverse(name, args=args)


@pytest.mark.parametrize(("name", "method", "needs", "allowed"), ROUTES)
def test_without_credentials_every_endpoint_answers_401(
    name, method, needs, allowed, image_set, healthimaging
):
    clear_emulator_calls(healthimaging.url)
    response = getattr(APIClient(), method)(url_for(name, needs, image_set))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert emulator_calls(healthimaging.url) == []


@pytest.mark.parametrize("role", ["viewer", "editor", "admin", None])
@pytest.mark.parametrize(("name", "method", "needs", "allowed"), ROUTES)
def test_each_role_gets_exactly_the_endpoints_its_permissions_allow(
    role, name, method, needs, allowed, image_set, healthimaging, api_as, make_user
):
    if role is None:  # signed in, but given no role at all
        api = APIClient()
        api.force_authenticate(make_user(None, username="nobody"))
    else:
        api = api_as(role)
    clear_emulator_calls(healthimaging.url)
    response = getattr(api, method)(url_for(name, needs, image_set), {}, format="json")
    if role in allowed:
        assert response.status_code not in (401, 403), response.content
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert response.json()["message"].startswith("Your role does not let you")
        assert emulator_calls(healthimaging.url) == []


def test_a_signed_in_session_works_and_its_writes_need_the_csrf_token(
    make_user, image_set, scheduled
):
    datastore_id, image_set_id = image_set
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(make_user("editor"))
    url = reverse("api:edit-create", args=[datastore_id, image_set_id])

    read = api.get(reverse("api:edit-list"))
    without_token = api.post(url, {}, format="json")
    api.get(reverse("accounts:token-list"))  # a page with a form sets the CSRF cookie
    with_token = api.post(
        url, {}, format="json", HTTP_X_CSRFTOKEN=api.cookies["csrftoken"].value
    )

    assert read.status_code == 200
    assert without_token.status_code == 403
    assert without_token.json()["code"] == "permission_denied"
    assert "CSRF" in without_token.json()["message"]
    assert (
        with_token.status_code == 400
    )  # past the CSRF check: an empty edit is invalid

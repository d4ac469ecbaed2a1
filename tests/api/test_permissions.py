"""API access beyond the role matrix (tests/reliability/test_authorization.py, S6): a
signed-in session works, and its writes need the CSRF token."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


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

"""Nothing shown to a signed-in user may be kept by a cache: pages, fragments and the API."""

import pytest
from django.urls import reverse

from apps.accounts import tokens
from apps.accounts.roles import EDITOR
from apps.accounts.services import set_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(django_user_model):
    user = django_user_model.objects.create_user("cache-editor")
    set_role(user, EDITOR)
    return user


def test_pages_for_a_signed_in_user_are_private_and_not_stored(client, editor):
    client.force_login(editor)
    for url in (reverse("edits:edit-list"), reverse("accounts:token-list")):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        assert "private" in response["Cache-Control"]


def test_api_answers_to_a_token_are_private_and_not_stored(client, editor):
    _, token = tokens.token_create(
        user=editor, name="t", expires_in_days=None, request=None
    )
    response = client.get(
        reverse("api:edit-list"), HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_views_own_cache_control_is_kept(client):
    assert client.get(reverse("core:healthz"))["Cache-Control"] == "no-store"

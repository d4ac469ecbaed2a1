import itertools

import pytest
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role
from tests.support.emulator import fresh_image_sets

ROLES = (VIEWER, EDITOR, ADMIN)


@pytest.fixture
def make_user(django_user_model):
    made = itertools.count(1)

    def make(role, *, username=None):
        user = django_user_model.objects.create_user(
            username or f"{role}-user-{next(made)}"
        )
        if role:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def token_for():
    """A fresh personal API token of `user`, as its plaintext."""

    def make(user):
        _, plaintext = tokens.token_create(
            user=user, name="tests", expires_in_days=None, request=None
        )
        return plaintext

    return make


@pytest.fixture
def api_as(make_user, token_for):
    """An API client authenticated with a personal token of a new user with `role`
    (None: no credentials at all)."""

    def client(role, *, username=None):
        api = APIClient()
        if role is not None:
            user = make_user(role, username=username)
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
            api.user = user
        return api

    return client


@pytest.fixture
def image_set(healthimaging, browse_archive) -> tuple[str, str]:
    """An image set of the read-only `browse` archive."""
    datastore_id, image_set_ids = browse_archive
    return datastore_id, image_set_ids[0]


@pytest.fixture
def image_sets(healthimaging) -> tuple[str, list[str]]:
    """Three fresh image sets, for tests that change them."""
    return fresh_image_sets(healthimaging, 3)

import html
import re

import pytest

from apps.accounts.roles import ADMIN, EDITOR, VIEWER

ROLES = (VIEWER, EDITOR, ADMIN)


@pytest.fixture
def viewer(make_user):
    return make_user(VIEWER)


@pytest.fixture
def editor(make_user):
    return make_user(EDITOR)


@pytest.fixture
def admin_user(make_user):
    return make_user(ADMIN)


@pytest.fixture
def client_as(client, make_user):
    """The test client signed in with `role` (None: anonymous)."""

    def sign_in(role: str | None):
        if role is not None:
            client.force_login(make_user(role))
        return client

    return sign_in


@pytest.fixture
def image_set(healthimaging, browse_archive) -> tuple[str, str]:
    """An image set of the read-only `browse` archive: tests here never change it."""
    datastore_id, image_set_ids = browse_archive
    return datastore_id, image_set_ids[0]


def form_inputs(body: str) -> dict[str, str]:
    """The edit form as the page loads it: every named input's and textarea's value, and
    each select's selected option (or its first)."""
    values = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"', body
        )
    }
    values |= {
        html.unescape(name): html.unescape(text.lstrip("\n"))
        for name, text in re.findall(
            r'<textarea[^>]*\bname="([^"]+)"[^>]*>(.*?)</textarea>', body, re.S
        )
    }
    for name, options in re.findall(
        r'<select[^>]*\bname="([^"]+)"[^>]*>(.*?)</select>', body, re.S
    ):
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        first = re.search(r'<option value="([^"]*)"', options)
        chosen = selected or first
        values[html.unescape(name)] = html.unescape(chosen.group(1)) if chosen else ""
    values.pop("csrfmiddlewaretoken", None)
    return values

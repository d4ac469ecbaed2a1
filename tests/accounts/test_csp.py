"""Every page carries a Content-Security-Policy without inline code or eval."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def directives(response):
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (
            part.split() for part in policy.split(";") if part.strip()
        )
    }


@pytest.mark.parametrize("signed_in", [False, True])
def test_pages_carry_a_strict_policy(client, make_user, signed_in):
    if signed_in:
        client.force_login(make_user("editor"))
    url = reverse("edits:edit-list") if signed_in else reverse("login")

    response = client.get(url)

    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert "unsafe" not in response["Content-Security-Policy"]


def test_the_lockout_and_forbidden_pages_carry_it_too(client, make_user):
    client.force_login(make_user("viewer"))

    response = client.get(reverse("edits:edit-list"))

    assert response.status_code == 403
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_pages_have_no_inline_scripts_or_styles(client, make_user):
    client.force_login(make_user("editor"))

    for url in (reverse("login"), reverse("edits:edit-list")):
        body = client.get(url).content.decode()
        assert "<style" not in body
        assert not re.search(r"\sstyle=", body)
        assert all('src="' in tag for tag in body.split("<script")[1:])

"""A session ends SESSION_MAX_AGE_SECONDS after sign-in, however busy it is."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from apps.accounts.sessions import EXPIRED_MESSAGE, SIGNED_IN_AT

pytestmark = pytest.mark.django_db


def signed_in_ago(client, seconds):
    session = client.session
    session[SIGNED_IN_AT] = int(time.time()) - seconds
    session.save()
    return session.session_key


def test_signing_in_records_the_time(client, make_user):
    before = int(time.time())
    client.force_login(make_user("editor"))

    assert before <= client.session[SIGNED_IN_AT] <= int(time.time())


def test_a_session_within_its_lifetime_goes_on(client, make_user, settings):
    client.force_login(make_user("editor"))
    signed_in_ago(client, settings.SESSION_MAX_AGE_SECONDS - 60)

    assert client.get(reverse("edits:edit-list")).status_code == 200


def test_a_session_past_its_lifetime_is_signed_out_and_deleted(
    client, make_user, settings
):
    assert settings.SESSION_MAX_AGE_SECONDS == 12 * 60 * 60
    client.force_login(make_user("editor"))
    key = signed_in_ago(client, settings.SESSION_MAX_AGE_SECONDS + 1)

    response = client.get(reverse("edits:edit-list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Session.objects.filter(session_key=key).exists()
    login_page = client.get(response["Location"]).content.decode()
    assert EXPIRED_MESSAGE in login_page


def test_an_htmx_request_past_the_lifetime_is_sent_to_sign_in(
    client, make_user, settings
):
    settings.SESSION_MAX_AGE_SECONDS = 600
    client.force_login(make_user("editor"))
    signed_in_ago(client, 601)

    response = client.get(
        reverse("edits:edit-list"),
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/edits/"},
    )

    assert response["HX-Redirect"].startswith(reverse("login"))


def test_a_session_without_a_sign_in_time_starts_its_lifetime_now(client, make_user):
    client.force_login(make_user("editor"))
    session = client.session
    del session[SIGNED_IN_AT]
    session.save()

    assert client.get(reverse("edits:edit-list")).status_code == 200
    assert abs(client.session[SIGNED_IN_AT] - time.time()) < 5


def test_signing_out_deletes_the_session(client, make_user):
    client.force_login(make_user("editor"))
    key = client.session.session_key

    client.post(reverse("logout"))

    assert not Session.objects.filter(session_key=key).exists()

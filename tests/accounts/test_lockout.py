"""Repeated failed sign-ins lock that username from that address for the cool-off (axes)."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from django.urls import reverse

from apps.accounts.client_ip import client_ip_address

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase for ana"
ATTACKER = "192.0.2.10"
COLLEAGUE = "192.0.2.20"


@pytest.fixture
def ana(make_user):
    return make_user("editor", username="ana", password=PASSWORD)


def sign_in(client, password, *, remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(
        reverse("login"), {"username": "ana", "password": password}, **extra
    )


def fail_five_times_rotating_x_forwarded_for(client):
    return [
        sign_in(client, "wrong", remote=ATTACKER, forwarded=f"198.51.100.{n}")
        for n in range(5)
    ]


def test_five_failures_lock_the_username_from_that_address(client, ana, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    responses = fail_five_times_rotating_x_forwarded_for(client)

    assert [r.status_code for r in responses[:4]] == [200] * 4
    assert responses[4].status_code == 429
    # Rotating X-Forwarded-For changed nothing: the right password is refused too.
    locked = sign_in(client, PASSWORD, remote=ATTACKER, forwarded="198.51.100.99")
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "Sign-in paused" in body
    assert "15 minutes" in body
    assert locked["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session


def test_the_lock_does_not_keep_the_user_out_from_another_address(client, ana):
    fail_five_times_rotating_x_forwarded_for(client)

    response = sign_in(client, PASSWORD, remote=COLLEAGUE)

    assert response.status_code == 302
    assert response["Location"] == reverse("core:home")


def test_the_lock_lifts_after_the_cool_off(client, ana):
    fail_five_times_rotating_x_forwarded_for(client)
    AccessAttempt.objects.update(
        attempt_time=datetime.datetime.now(datetime.UTC)
        - datetime.timedelta(minutes=16)
    )

    response = sign_in(client, PASSWORD, remote=ATTACKER)

    assert response.status_code == 302


def test_a_successful_sign_in_resets_the_count(client, ana):
    for _ in range(4):
        sign_in(client, "wrong", remote=ATTACKER)
    assert sign_in(client, PASSWORD, remote=ATTACKER).status_code == 302
    client.post(reverse("logout"))

    for _ in range(4):
        assert sign_in(client, "wrong", remote=ATTACKER).status_code == 200
    assert not AccessAttempt.objects.filter(failures_since_start__gte=5).exists()


def test_the_failure_limit_comes_from_the_settings(client, ana, settings):
    settings.AXES_FAILURE_LIMIT = 2

    codes = [sign_in(client, "wrong", remote=ATTACKER).status_code for _ in range(2)]

    assert codes == [200, 429]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "192.0.2.10"),  # no proxy: the header is not trusted
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # one proxy appended the client
        (2, "6.6.6.6, 198.51.100.1, 203.0.113.5", "198.51.100.1"),
        (2, "198.51.100.1", "192.0.2.10"),  # too short: did not come through them
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get(
        "/", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=forwarded
    )

    assert client_ip_address(request) == expected

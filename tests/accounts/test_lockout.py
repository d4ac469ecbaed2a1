"""Repeated failed sign-ins lock that username from that address for the cool-off (axes).

The attack itself (100 guesses with a rotating X-Forwarded-For, the victim's own sign-in,
the cool-off) is case S4 of tests/reliability/test_sessions.py.
"""

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from django.urls import reverse

from apps.accounts.client_ip import client_ip_address

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase for ana"
ATTACKER = "192.0.2.10"


@pytest.fixture
def ana(make_user):
    return make_user("editor", username="ana", password=PASSWORD)


def sign_in(client, password, *, remote):
    return client.post(
        reverse("login"), {"username": "ana", "password": password}, REMOTE_ADDR=remote
    )


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

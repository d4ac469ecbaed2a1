"""Who stays signed in: a brute-force attack locks only the attacker out (S4), an idle
session ends on time while its page polls (S5), and no session outlives its absolute cap.

Time is a controlled clock: django-axes and Django's sessions both read
`django.utils.timezone.now`, so the cases walk through minutes and hours in a moment.
"""

import datetime
import itertools
from urllib.parse import quote

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.sessions import EXPIRED_MESSAGE
from apps.edits.models import MetadataEdit

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase for ana"
ATTACKER = "192.0.2.10"
VICTIM = "192.0.2.20"
ATTEMPTS = 100
POLL_SECONDS = 2


class Clock:
    """A `timezone.now` that moves only when told to."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    # django-axes imported `now` by name.
    monkeypatch.setattr("axes.handlers.proxy.now", clock)
    monkeypatch.setattr("axes.attempts.now", clock)
    return clock


@pytest.fixture
def ana(make_user):
    return make_user("editor", username="ana", password=PASSWORD)


def sign_in(client, password, *, address, proxies, forwarded_by_client=""):
    """A sign-in from `address`; behind `proxies` trusted proxies, the nearest one appends
    the address it saw to whatever X-Forwarded-For the client wrote."""
    extra = {"REMOTE_ADDR": address}
    if proxies:
        chain = [part for part in (forwarded_by_client, address) if part]
        chain += ["10.0.0.1"] * (proxies - 1)
        extra = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": ", ".join(chain)}
    elif forwarded_by_client:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_by_client
    return client.post(
        reverse("login"), {"username": "ana", "password": password}, **extra
    )


@pytest.mark.parametrize("proxies", [0, 1], ids=["direct", "behind-one-proxy"])
def test_brute_force_with_rotating_forwarded_for_locks_only_the_attacker(
    client, ana, settings, clock, figure, proxies
):
    settings.TRUSTED_PROXY_COUNT = proxies
    limit = settings.AXES_FAILURE_LIMIT
    cool_off = settings.AXES_COOLOFF_TIME.total_seconds()
    addresses = (f"198.51.100.{n}" for n in itertools.cycle(range(1, 255)))

    codes = [
        sign_in(
            client,
            f"guess-{n}",
            address=ATTACKER,
            proxies=proxies,
            forwarded_by_client=next(addresses),
        ).status_code
        for n in range(ATTEMPTS)
    ]
    locked_at = codes.index(429) + 1
    # The right password from the attacker's address is refused as well...
    attacker_with_password = sign_in(
        client, PASSWORD, address=ATTACKER, proxies=proxies
    )
    # ...while ana signs in from her own address, and signs out again.
    victim = sign_in(client, PASSWORD, address=VICTIM, proxies=proxies)
    victim_signed_in = client.session.get("_auth_user_id") == str(ana.pk)
    client.post(reverse("logout"))
    # Each refused attempt restarts the cool-off: it counts from the last one.
    clock.advance(cool_off - 1)
    before_cool_off = sign_in(client, PASSWORD, address=ATTACKER, proxies=proxies)
    clock.advance(cool_off + 1)
    after_cool_off = sign_in(client, PASSWORD, address=ATTACKER, proxies=proxies)

    assert locked_at == limit
    assert codes[: limit - 1] == [200] * (limit - 1)
    assert codes[limit - 1 :] == [429] * (ATTEMPTS - limit + 1)
    assert attacker_with_password.status_code == 429
    assert "Sign-in paused" in attacker_with_password.content.decode()
    assert attacker_with_password["Retry-After"] == f"{cool_off:.0f}"
    assert victim.status_code == 302
    assert victim["Location"] == reverse("core:home")
    assert victim_signed_in
    assert before_cool_off.status_code == 429
    assert after_cool_off.status_code == 302
    shape = "behind one proxy" if proxies else "direct"
    figure(
        "S4",
        f"{shape}: failed sign-ins before the lock (AXES_FAILURE_LIMIT {limit}), "
        f"of {ATTEMPTS} with rotating X-Forwarded-For",
        f"locked at attempt {locked_at}; attempts {limit}-{ATTEMPTS}: "
        f"{codes.count(429)}/{ATTEMPTS - limit + 1} answered 429",
    )
    figure(
        "S4",
        f"{shape}: attacker's address with the right password during the lock",
        attacker_with_password.status_code,
    )
    figure(
        "S4",
        f"{shape}: victim signs in from her own address",
        f"{victim.status_code} to {victim['Location']}, signed in: {victim_signed_in}",
    )
    figure(
        "S4",
        f"{shape}: right password {cool_off - 1:.0f} s / {cool_off + 1:.0f} s after "
        f"the last attempt (cool-off {cool_off:.0f} s)",
        f"{before_cool_off.status_code} / {after_cool_off.status_code}",
    )


@pytest.fixture
def editor(make_user):
    return make_user("editor", username="ana", password=PASSWORD)


def sign_in_as(client, user) -> str:
    """Sign in through the login page, as a person does; the session key."""
    response = client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client.session.session_key


def htmx(current_url: str) -> dict[str, str]:
    return {"HX-Request": "true", "HX-Current-URL": f"http://testserver{current_url}"}


def test_an_idle_session_ends_on_time_while_its_status_page_polls(
    client, editor, settings, clock, figure
):
    idle = settings.SESSION_COOKIE_AGE
    edit = MetadataEdit.objects.create(
        requested_by=editor,
        datastore_id="a" * 32,
        image_set_id="b" * 32,
        base_version=1,
        changes=[],
        reason="test",
    )
    page = reverse("edits:edit-detail", args=[edit.pk])
    status = reverse("edits:edit-status", args=[edit.pk])
    key = sign_in_as(client, editor)
    # The person's last action: open the edit's page, which then polls on its own.
    assert client.get(page).status_code == 200
    last_action = clock.now

    served = 0
    for _ in range(idle // POLL_SECONDS + 10):
        clock.advance(POLL_SECONDS)
        poll = client.get(status, headers=htmx(page))
        if "HX-Redirect" in poll:
            break
        assert poll.status_code == 200
        served += 1
    ended_after = (clock.now - last_action).total_seconds()
    clicked = client.get(reverse("edits:edit-list"), headers=htmx(page))
    reloaded = client.get(page)

    assert idle - POLL_SECONDS < ended_after <= idle
    assert poll["HX-Redirect"] == f"{reverse('login')}?next={quote(page)}"
    assert poll.content == b""  # no login form swapped into the status panel
    assert clicked["HX-Redirect"] == poll["HX-Redirect"]
    assert clicked.content == b""
    assert reloaded.status_code == 302
    assert reloaded["Location"].startswith(reverse("login"))
    assert not Session.objects.filter(session_key=key, expire_date__gt=clock.now)
    figure(
        "S5",
        f"idle session end after the last action (SESSION_COOKIE_AGE {idle} s, "
        f"a poll every {POLL_SECONDS} s)",
        f"{ended_after:.0f} s; {served} polls served before it",
    )
    figure(
        "S5",
        "next htmx request after the end (the poll, then a click)",
        f"{poll.status_code}, HX-Redirect to {reverse('login')} (next: the edit's "
        f"page), {len(poll.content)}-byte body; the click: {clicked.status_code}, "
        "the same",
    )


def test_a_busy_session_ends_at_its_absolute_cap(
    client, editor, settings, clock, figure
):
    cap = settings.SESSION_MAX_AGE_SECONDS
    idle = settings.SESSION_COOKIE_AGE
    # Active all along: a click more often than the idle timeout, landing on the cap.
    step = max(seconds for seconds in range(1, idle) if cap % seconds == 0)
    key = sign_in_as(client, editor)
    signed_in = clock.now

    served = 0
    for _ in range(cap // step + 2):
        clock.advance(step)
        response = client.get(reverse("edits:edit-list"))
        if response.status_code != 200:
            break
        served += 1
    ended_after = (clock.now - signed_in).total_seconds()
    replayed = Client()
    replayed.cookies[settings.SESSION_COOKIE_NAME] = key
    replay = replayed.get(reverse("edits:edit-list"))

    assert ended_after == cap
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert EXPIRED_MESSAGE in client.get(response["Location"]).content.decode()
    assert not Session.objects.filter(session_key=key).exists()
    assert replay.status_code == 302
    assert replay["Location"].startswith(reverse("login"))
    figure(
        "S5",
        f"busy session end after sign-in (SESSION_MAX_AGE_SECONDS {cap} s, "
        f"a click every {step} s)",
        f"{ended_after:.0f} s; {served} requests served before it",
    )
    figure(
        "S5",
        "the ended session's cookie replayed",
        f"{replay.status_code} to {replay['Location']}",
    )

"""Fixtures that drive the portal in Debian's chromium through Playwright (never a downloaded
browser), served by pytest-django's live server and talking to the live emulator."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect, sync_playwright

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role

# Playwright's sync API runs an asyncio loop in the test thread; Django's ORM refuses to run
# while a loop is running unless told the caller is really synchronous (it is).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags chromium keeps calling out, and this machine's network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
PASSWORD = "correct-horse-battery-staple-42"

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = (
            "Debian chromium is not installed at /usr/bin/chromium: `make browser` "
            "(or apt-get install chromium) installs it"
        )
        # CI runs `make test`, which installs it: there a missing browser is a failure.
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[Page]:
    """A fresh page in a fresh context (no cookies, no storage) for each test.

    Uncaught script errors fail the test: a page that half works is a broken page.
    """
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    yield page
    context.close()
    assert not script_errors, f"script errors in the page: {script_errors}"


@pytest.fixture
def portal(healthimaging, browse_archive) -> tuple[str, list[str]]:
    """The portal's gateway points at the live emulator holding the `browse` archive."""
    return browse_archive


def user_with_role(django_user_model, username: str, role: str):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD)
    set_role(user, role)
    return user


@pytest.fixture
def user(django_user_model):
    """The clinician the flows sign in as: an editor."""
    return user_with_role(django_user_model, "clinician", EDITOR)


@pytest.fixture
def editor(user):
    return user


@pytest.fixture
def viewer(django_user_model):
    return user_with_role(django_user_model, "viewer", VIEWER)


@pytest.fixture
def admin_user(django_user_model):
    return user_with_role(django_user_model, "auditor", ADMIN)


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()


@pytest.fixture
def logged_in_page(page, user, portal) -> Page:
    """A page signed in through the real login page, on the data stores page."""
    page.goto("/")
    expect(page).to_have_url(re.compile(re.escape(reverse("login"))))
    log_in(page, user.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/datastores/$"))
    return page

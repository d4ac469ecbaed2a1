import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, log_in

pytestmark = pytest.mark.e2e


def test_login_page_signs_in_and_lands_on_data_stores(page, user, portal):
    page.goto("/")

    expect(page).to_have_url(re.compile(re.escape(reverse("login"))))
    log_in(page, user.username, PASSWORD)

    expect(page).to_have_url(re.compile(r"/datastores/$"))
    expect(page.get_by_text(f"Signed in as {user.username}")).to_be_visible()


def test_login_page_refuses_a_wrong_password(page, user):
    page.goto(reverse("login"))

    log_in(page, user.username, "not-the-password")

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(re.escape(reverse("login"))))
    expect(page.get_by_label("Username", exact=True)).to_have_value(user.username)

"""The API documentation in a real browser: reached from the portal, rendered by Swagger UI
under the portal's Content-Security-Policy, without a single violation."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_open_from_the_portal_and_list_the_operations(logged_in_page):
    page = logged_in_page
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )

    page.get_by_role("link", name="API docs").click()

    expect(page).to_have_url(re.compile(r"/api/docs/$"))
    expect(
        page.get_by_role("heading", name=re.compile("Imaging Portal API"))
    ).to_be_visible()
    expect(page.get_by_text("Search a data store's image sets")).to_be_visible()
    expect(page.get_by_text("Queue a metadata edit")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Authorize"))).to_be_visible()
    assert refused == []


def test_the_api_docs_send_a_signed_out_browser_to_sign_in(page, live_server):
    page.goto("/api/docs/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/api/docs/"))

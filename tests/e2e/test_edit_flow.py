"""An edit in a real browser: change a patient name, review, queue, watch a real worker
(through a real Redis) apply it, and see the new name on the page and in search results."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, log_in
from tests.support.emulator import seed_archive

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

NEW_NAME = "EDITED^ERIKA=エディテッド^エリカ"
SHOWN_NAME = "EDITED, ERIKA"
STATUS_TIMEOUT_MS = 30_000


@pytest.fixture
def edit_archive(healthimaging) -> tuple[str, list[str]]:
    """Two fresh image sets of their own data store, for this test to change."""
    return seed_archive(healthimaging, 2, name="e2e-edit-flow", random_seed=404)


def sign_in(page: Page, username: str) -> None:
    page.goto("/")
    log_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/datastores/$"))


def test_an_edited_patient_name_shows_on_the_page_and_in_search_results(
    page, user, edit_archive, start_worker
):
    datastore_id, (image_set_id, *_) = edit_archive
    start_worker()
    sign_in(page, user.username)

    page.goto(f"/datastores/{datastore_id}/image-sets/{image_set_id}/")
    page.get_by_role("link", name="Edit metadata", exact=True).click()
    expect(page.get_by_role("heading", name="Edit metadata", level=1)).to_be_visible()
    name_field = page.get_by_label("Patient name", exact=True)
    old_name = name_field.input_value()
    assert old_name
    name_field.fill(NEW_NAME)
    page.get_by_label("Reason for change", exact=True).fill(
        "Name misspelled at registration"
    )
    page.get_by_role("button", name="Review", exact=True).click()

    review = page.locator("table.table--changes tbody tr")
    expect(review).to_have_count(1)
    expect(review).to_contain_text("PatientName")
    expect(review).to_contain_text(old_name)
    expect(review).to_contain_text(NEW_NAME)
    expect(page.locator(".payload")).to_contain_text('"PatientName": "EDITED^ERIKA')
    page.get_by_role("button", name="Queue update", exact=True).click()

    expect(page).to_have_url(
        re.compile(rf"/datastores/{datastore_id}/image-sets/{image_set_id}/$")
    )
    # A marker that a reload would wipe: the new name must arrive without one.
    page.evaluate("window.notReloaded = true")
    panel = page.get_by_role("status").filter(has_text="Your edit")
    expect(panel).to_contain_text("PatientName")
    expect(panel.locator("[data-edit-status]")).to_have_text(
        "Succeeded", timeout=STATUS_TIMEOUT_MS
    )
    expect(page.locator(".subtitle")).to_contain_text(SHOWN_NAME)
    patient_name = page.locator(
        "details.level--patient tr[data-attribute]", has_text="PatientName"
    ).locator("td")
    expect(patient_name).to_have_text(NEW_NAME)
    expect(
        page.locator(".table--properties tr", has_text="Version").locator("td")
    ).to_have_text("2")
    assert page.evaluate("window.notReloaded") is True

    page.goto(f"/datastores/{datastore_id}/")
    row = page.locator(f'#results tr[data-image-set-id="{image_set_id}"]')
    expect(row.locator("th")).to_have_text(SHOWN_NAME)

    page.get_by_role("link", name="My edits", exact=True).click()
    edits = page.locator("table.table--edits tbody tr")
    expect(edits).to_have_count(1)
    expect(edits).to_contain_text("Succeeded")
    expect(edits).to_contain_text("PatientName")

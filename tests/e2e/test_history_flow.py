"""Version history end to end, as two people: the editor changes a patient name; the admin
opens History, compares the two versions, reverts with a reason and sees the old name back;
the audit log and its CSV show both actions with both users and reasons."""

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

NEW_NAME = "REVERTED^ROSA"
EDIT_REASON = "Name misspelled at registration"
REVERT_REASON = "Wrong patient: the edit was made on the wrong image set"
STATUS_TIMEOUT_MS = 30_000


@pytest.fixture
def history_archive(healthimaging) -> tuple[str, str]:
    datastore_id, (image_set_id,) = seed_archive(
        healthimaging, 1, name="e2e-history-flow", random_seed=505
    )
    return datastore_id, image_set_id


def sign_in(page: Page, username: str) -> None:
    page.goto("/")
    log_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/datastores/$"))


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login/"))


def wait_for_status(page: Page, label: str) -> None:
    panel = page.get_by_role("status").filter(has_text=label)
    expect(panel.locator("[data-edit-status]")).to_have_text(
        "Succeeded", timeout=STATUS_TIMEOUT_MS
    )


def test_an_admin_compares_and_reverts_an_edit_and_the_audit_log_shows_both(
    page, editor, admin_user, history_archive, start_worker
):
    datastore_id, image_set_id = history_archive
    image_set_url = f"/datastores/{datastore_id}/image-sets/{image_set_id}/"
    start_worker()

    # The editor changes the patient name.
    sign_in(page, editor.username)
    page.goto(image_set_url)
    page.get_by_role("link", name="Edit metadata", exact=True).click()
    name_field = page.get_by_label("Patient name", exact=True)
    old_name = name_field.input_value()
    name_field.fill(NEW_NAME)
    page.get_by_label("Reason for change", exact=True).fill(EDIT_REASON)
    page.get_by_role("button", name="Review", exact=True).click()
    page.get_by_role("button", name="Queue update", exact=True).click()
    wait_for_status(page, "Your edit")
    sign_out(page)

    # The admin reads the history: two versions, the second made by the editor, and why.
    sign_in(page, admin_user.username)
    page.goto(image_set_url)
    page.get_by_role("link", name="History", exact=True).click()
    versions = page.locator("table tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text(editor.username)
    expect(versions.first).to_contain_text(EDIT_REASON)

    # Compare: the name changed from the old to the new value.
    versions.first.get_by_role(
        "link", name=re.compile("^Compare with previous")
    ).click()
    change = page.locator("tr", has_text="PatientName")
    expect(change).to_contain_text(old_name)
    expect(change).to_contain_text(NEW_NAME)

    # Revert to version 1, with a reason; the old name comes back.
    page.go_back()
    versions.last.get_by_role(
        "link", name=re.compile("^Revert to this version")
    ).click()
    page.get_by_label("Reason for the revert", exact=True).fill(REVERT_REASON)
    page.get_by_role("button", name="Revert to version 1", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(image_set_url) + "$"))
    wait_for_status(page, "Your revert")
    patient_name = page.locator(
        "details.level--patient tr[data-attribute]", has_text="PatientName"
    ).locator("td")
    expect(patient_name).to_have_text(old_name)

    # The audit log shows both actions, with both users and both reasons.
    page.get_by_role("link", name="Audit log", exact=True).click()
    page.get_by_label("Image set ID", exact=True).fill(image_set_id)
    page.get_by_role("button", name=re.compile("^(Filter|Apply)")).click()
    log = page.locator("table tbody")
    for text in (
        "Edit queued",
        "Revert queued",
        editor.username,
        admin_user.username,
        EDIT_REASON,
        REVERT_REASON,
    ):
        expect(log).to_contain_text(text)

    # The CSV export of the same filter holds them too (browser downloads do not work
    # here, so the page's own session fetches it).
    export = page.get_by_role("link", name=re.compile("^Export CSV"))
    response = page.request.get(export.get_attribute("href"))
    assert response.ok
    csv_text = response.text()
    for text in (
        "edit.queued",
        "revert.queued",
        editor.username,
        admin_user.username,
        EDIT_REASON,
        REVERT_REASON,
    ):
        assert text in csv_text

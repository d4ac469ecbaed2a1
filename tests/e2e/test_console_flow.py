"""The console flow in a real browser: data stores, search, paging, history, an image set."""

import datetime
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, TIMEOUT_MS, log_in

pytestmark = pytest.mark.e2e

STORE_NAME = "browse"


def field(page: Page, label: str):
    return page.get_by_label(label, exact=True)


def search_button(page: Page):
    return page.get_by_role("button", name="Search", exact=True)


def results_rows(page: Page):
    return page.locator("#results tbody tr")


def row_ids(page: Page) -> list[str]:
    return results_rows(page).evaluate_all(
        "rows => rows.map(row => row.dataset.imageSetId)"
    )


def column(page: Page, header: str) -> list[str]:
    """The text of one results column, found by its header."""
    headers = [
        text.strip() for text in page.locator("#results thead th").all_inner_texts()
    ]
    index = headers.index(header)
    return results_rows(page).evaluate_all(
        "(rows, index) => rows.map(row => row.cells[index].innerText.trim())", index
    )


def eventually(check, timeout: float = 10.0):
    """Retry an assertion about the page until it holds (htmx swaps are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def expect_page(page: Page, number: int, ids: list[str] | None = None) -> list[str]:
    """Wait until the results show page `number` (and exactly `ids`, when given)."""
    expect(page.locator("#results .pager__current")).to_have_text(f"Page {number}")

    def shown() -> list[str]:
        current = row_ids(page)
        assert current, "no result rows"
        if ids is not None:
            assert current == ids
        return current

    return eventually(shown)


def open_store(page: Page) -> None:
    """From the data stores page, open the seeded store's image sets."""
    page.get_by_role("link", name=STORE_NAME, exact=True).click()
    expect(page.get_by_role("heading", name=STORE_NAME, level=1)).to_be_visible()
    expect(results_rows(page).first).to_be_visible()


def study_date(cell: str) -> datetime.date:
    return datetime.date.fromisoformat(cell.split()[0])


def test_console_flow_search_page_and_read_an_image_set(
    logged_in_page, portal, tmp_path
):
    page = logged_in_page
    datastore_id, image_set_ids = portal

    # The data stores page lists the seeded store, linking to its image sets.
    store_link = page.get_by_role("link", name=STORE_NAME, exact=True)
    expect(store_link).to_have_attribute("href", f"/datastores/{datastore_id}/")
    open_store(page)

    # On arrival: all image sets, newest updated first, and the form says so.
    expect(field(page, "Property")).to_have_value("")
    expect(field(page, "Property").locator("option:checked")).to_have_text(
        "All image sets"
    )
    expect(field(page, "Order").locator("option:checked")).to_have_text("Newest first")
    expect(page.locator("#results .pager__current")).to_have_text("Page 1")
    first_page = row_ids(page)
    assert len(first_page) == 25
    assert set(first_page) <= set(image_set_ids)
    updated = column(page, "Updated at")
    assert updated == sorted(updated, reverse=True)
    page.screenshot(path=tmp_path / "results.png", full_page=True)

    # Search by the first row's patient ID: only that patient's image sets.
    patient_id = column(page, "Patient ID")[0]
    field(page, "Property").select_option(label="Patient ID")
    field(page, "Value").fill(patient_id)
    search_button(page).click()
    expect(page).to_have_url(re.compile(r"property=patient_id"))
    expect(page.locator("#results")).to_contain_text(patient_id)
    eventually(lambda: assert_all_equal(column(page, "Patient ID"), patient_id))
    assert first_page[0] in row_ids(page)
    expect(field(page, "Value")).to_have_value(patient_id)

    # Clear: back to every image set with an empty form.
    page.get_by_role("link", name="Clear", exact=True).click()
    expect(field(page, "Value")).to_have_value("")
    expect(field(page, "Property")).to_have_value("")
    expect_page(page, 1, first_page)

    # Search by a study date range around a row's study date.
    # The first row (after the first few) whose study date is recorded.
    chosen_row = next(
        index
        for index, cell in enumerate(column(page, "Study date and time"))
        if index >= 3 and re.match(r"\d{4}-\d{2}-\d{2}", cell)
    )
    chosen_date = study_date(column(page, "Study date and time")[chosen_row])
    chosen_id = first_page[chosen_row]
    date_from = chosen_date - datetime.timedelta(days=3 * 365)
    field(page, "Property").select_option(label="Study date and time")
    field(page, "From").fill(date_from.isoformat())
    field(page, "To").fill(chosen_date.isoformat())
    search_button(page).click()
    expect(page).to_have_url(re.compile(r"property=study_date_time"))

    def in_range() -> list[str]:
        ids = row_ids(page)
        assert ids
        assert ids != first_page
        dates = [study_date(cell) for cell in column(page, "Study date and time")]
        assert all(date_from <= date <= chosen_date for date in dates), dates
        return ids

    ranged = eventually(in_range)
    if len(ranged) < 25:
        assert chosen_id in ranged
    expect(field(page, "From")).to_have_value(date_from.isoformat())
    expect(field(page, "To")).to_have_value(chosen_date.isoformat())

    # Page forward and back through every image set.
    page.get_by_role("link", name="Clear", exact=True).click()
    expect_page(page, 1, first_page)
    page.get_by_role("link", name="Next page", exact=True).click()
    expect(page).to_have_url(re.compile(r"page=2"))
    second_page = expect_page(page, 2)
    assert len(second_page) == 25
    assert not set(second_page) & set(first_page)
    updated_second = column(page, "Updated at")
    assert updated_second == sorted(updated_second, reverse=True)
    assert updated_second[0] <= updated[-1]
    page.get_by_role("link", name="Previous page", exact=True).click()
    expect_page(page, 1, first_page)

    # The browser's history restores each page: back to page 2, back again to page 1.
    page.go_back()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect_page(page, 2, second_page)
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"page=2"))
    expect_page(page, 1, first_page)
    page.go_forward()
    expect_page(page, 2, second_page)
    # A reload of a pushed URL is the same page.
    page.reload()
    expect_page(page, 2, second_page)

    # Open an image set from the results and read its tree.
    opened_id = second_page[0]
    opened_patient = column(page, "Patient ID")[0]
    results_rows(page).first.get_by_role("link").click()
    expect(page).to_have_url(
        re.compile(rf"/datastores/{datastore_id}/image-sets/{opened_id}/$")
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text(opened_id)
    properties = page.locator(".table--properties")
    expect(properties).to_contain_text("ACTIVE")
    expect(properties).to_contain_text("Version")

    tree = page.locator("#metadata-tree")
    patient = tree.locator("details.level--patient")
    study = tree.locator("details.level--study")
    expect(patient).to_have_attribute("open", "")
    expect(attribute_value(patient, "PatientID")).to_have_text(opened_patient)
    expect(attribute_value(patient, "PatientName")).to_be_visible()
    expect(attribute_value(study, "StudyInstanceUID")).to_be_visible()
    expect(attribute_value(study, "StudyDate")).to_be_visible()

    # Filter attributes narrows the rows shown to those that match.
    visible = tree.locator("tr[data-attribute]:visible")
    before = visible.count()
    page.get_by_label("Filter attributes", exact=True).fill("PatientName")
    eventually(lambda: assert_fewer(visible.count(), before))
    for text in visible.locator("> th").all_inner_texts():
        assert "patientname" in text.lower(), text
    expect(attribute_value(patient, "PatientName")).to_be_visible()
    expect(attribute_value(study, "StudyInstanceUID")).to_be_hidden()
    page.get_by_label("Filter attributes", exact=True).fill("")
    eventually(lambda: assert_equal(visible.count(), before))

    series = study.locator("details.level--series").first
    expect(attribute_value(series, "Modality")).to_be_visible()
    # Instances start collapsed; expanding one shows its attributes.
    instance = series.locator("details.level--instance").first
    instance_uid = attribute_value(instance, "SOPInstanceUID")
    expect(instance_uid).to_be_hidden()
    instance.locator("summary").first.click()
    expect(instance_uid).to_be_visible()
    page.screenshot(path=tmp_path / "image-set.png", full_page=True)

    # The raw JSON download link answers with the metadata document.
    download = page.get_by_role("link", name="Download JSON", exact=True)
    response = page.request.get(download.get_attribute("href"))
    assert response.ok
    assert response.json()["Patient"]["DICOM"]["PatientID"] == opened_patient


def attribute_value(level, keyword: str):
    """The value cell of an attribute row in a tree level (not in its sub-levels)."""
    rows = level.locator(":scope > table > tbody > tr[data-attribute]")
    return (
        rows.filter(has=level.page.locator(f"th:text-is('{keyword}')"))
        .locator(":scope > td")
        .first
    )


def assert_all_equal(values: list[str], expected: str) -> None:
    assert values, "no rows"
    assert all(value == expected for value in values), values


def assert_fewer(count: int, before: int) -> None:
    assert 0 < count < before, (count, before)


def assert_equal(count: int, expected: int) -> None:
    assert count == expected, (count, expected)


def test_search_shows_a_validation_error_beside_value_and_keeps_it(logged_in_page):
    page = logged_in_page
    open_store(page)

    field(page, "Property").select_option(label="Series instance UID")
    field(page, "Value").fill("1.2.abc")
    search_button(page).click()

    value_field = page.locator(".form__field").filter(has=field(page, "Value"))
    expect(value_field.locator(".form__error")).to_contain_text(
        "digits and periods only"
    )
    expect(field(page, "Value")).to_have_value("1.2.abc")
    expect(field(page, "Value")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "Property").locator("option:checked")).to_have_text(
        "Series instance UID"
    )
    expect(results_rows(page)).to_have_count(0)
    expect(page.locator("#results")).to_contain_text("Fix the search above")


def test_search_works_from_the_keyboard_alone(logged_in_page):
    page = logged_in_page
    open_store(page)
    patient_id = column(page, "Patient ID")[0]

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(30):
        page.keyboard.press("Tab")
        if field(page, "Property").evaluate("el => el === document.activeElement"):
            break
    expect(field(page, "Property")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(field(page, "Property").locator("option:checked")).to_have_text("Patient ID")
    page.keyboard.press("Tab")
    expect(field(page, "Value")).to_be_focused()
    page.keyboard.type(patient_id)
    # Date and time inputs take one Tab per segment (day, month, year; hours, minutes, ...).
    for _ in range(40):
        page.keyboard.press("Tab")
        if search_button(page).evaluate("el => el === document.activeElement"):
            break
    expect(search_button(page)).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"property=patient_id"))
    eventually(lambda: assert_all_equal(column(page, "Patient ID"), patient_id))


def test_search_and_paging_work_without_javascript(browser, live_server, user, portal):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto("/")
        log_in(page, user.username, PASSWORD)
        open_store(page)
        first_page = row_ids(page)

        page.get_by_role("link", name="Next page", exact=True).click()
        expect_page(page, 2)
        assert not set(row_ids(page)) & set(first_page)

        patient_id = column(page, "Patient ID")[0]
        field(page, "Property").select_option(label="Patient ID")
        field(page, "Value").fill(patient_id)
        search_button(page).click()
        expect(page).to_have_url(re.compile(r"property=patient_id"))
        assert_all_equal(column(page, "Patient ID"), patient_id)
    finally:
        context.close()


def test_results_page_does_not_scroll_sideways(logged_in_page):
    """Hidden helper text in the scrolled results table must not widen the page."""
    page = logged_in_page
    open_store(page)

    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )

    assert widths[0] <= widths[1], widths

"""The Import jobs tab, a job's page and Start import, against the live emulator: what each
role sees, a job started from the form to its end, and every way it can go wrong."""

import html
import re
import time

import pytest
from django.conf import settings
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.imports import selectors
from tests.imports.conftest import ROLE_ARN, start_job, wait_until_finished
from tests.support.emulator import clear_emulator_calls, emulator_calls, emulator_config

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"}
POLL = 'hx-trigger="load delay:3s"'


def body(response) -> str:
    return response.content.decode()


def job_ids(response) -> list[str]:
    return re.findall(r'data-job-id="([0-9a-z]+)"', body(response))


def counts(response) -> dict[str, int]:
    return {
        status: int(count)
        for status, count in re.findall(
            r'data-import-count="([A-Z_]+)">(\d+)<', body(response)
        )
    }


def form_values(response) -> dict[str, str]:
    """The named inputs of a page, as the browser would send them back."""
    values = {}
    for tag in re.findall(r"<input[^>]*>", body(response)):
        name = re.search(r'\bname="([^"]+)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        if name and name.group(1) != "csrfmiddlewaretoken":
            values[html.unescape(name.group(1))] = html.unescape(
                value.group(1) if value else ""
            )
    return values


def start_form(client, datastore_id, staged, **values) -> dict[str, str]:
    """The Start import form as first shown, filled in."""
    shown = client.get(reverse("imports:job-start", args=[datastore_id]))
    assert shown.status_code == 200
    return form_values(shown) | staged | {"data_access_role_arn": ROLE_ARN} | values


# The tab


def test_the_tab_lists_the_jobs_newest_first_with_counts_by_status(
    client, viewer, datastore, staged
):
    completed = [start_job(datastore, staged, token=f"tab-{n}") for n in range(2)]
    # Another account owns the input bucket, says the job: the emulator fails it.
    failed = start_job(
        datastore, staged, token="tab-failed", input_owner_account_id="210987654321"
    )
    for job_id in [*completed, failed]:
        wait_until_finished(datastore, job_id)
    client.force_login(viewer)

    response = client.get(reverse("imports:job-list", args=[datastore]))

    assert response.status_code == 200
    assert job_ids(response) == [failed, *reversed(completed)]
    assert counts(response) == {
        "SUBMITTED": 0,
        "IN_PROGRESS": 0,
        "COMPLETED": 2,
        "FAILED": 1,
    }
    page = body(response)
    assert 'data-import-status="FAILED"' in page
    assert "Access denied" in page  # the job's message
    assert POLL not in page
    assert (
        f'href="{reverse("imports:job-list", args=[datastore])}" aria-current="page"'
        in page
    )
    assert reverse("imports:job-start", args=[datastore]) not in page


def test_the_tab_filters_by_status_as_a_page_and_as_a_fragment(
    client, viewer, datastore, staged
):
    done = start_job(datastore, staged, token="filter-done")
    failed = start_job(
        datastore, staged, token="filter-failed", input_owner_account_id="210987654321"
    )
    for job_id in (done, failed):
        wait_until_finished(datastore, job_id)
    client.force_login(viewer)
    url = reverse("imports:job-list", args=[datastore]) + "?status=FAILED"

    page = client.get(url)
    fragment = client.get(url, headers=HTMX)

    assert job_ids(page) == job_ids(fragment) == [failed]
    assert '<option value="FAILED" selected>' in body(page)
    assert body(fragment).lstrip().startswith('<section id="jobs"')
    assert "<html" not in body(fragment)
    assert fragment["Vary"].count("HX-Request") == 1
    empty = client.get(
        reverse("imports:job-list", args=[datastore]) + "?status=SUBMITTED"
    )
    assert "No import jobs with this status." in body(empty)


def test_an_unknown_status_is_a_form_error_not_a_call(
    client, viewer, datastore, healthimaging
):
    client.force_login(viewer)
    clear_emulator_calls(healthimaging.url)

    response = client.get(
        reverse("imports:job-list", args=[datastore]) + "?status=BOGUS", headers=HTMX
    )

    assert response.status_code == 200
    assert "Choose a status above" in body(response)
    assert emulator_calls(healthimaging.url, operation="ListDICOMImportJobs") == []


def test_the_tab_pages_through_the_jobs_with_next_and_previous(
    client, viewer, datastore, staged, monkeypatch
):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    started = [start_job(datastore, staged, token=f"paging-{n}") for n in range(3)]
    for job_id in started:
        wait_until_finished(datastore, job_id)
    client.force_login(viewer)

    first = client.get(reverse("imports:job-list", args=[datastore]))
    next_url = html.unescape(re.search(r'rel="next" href="([^"]+)"', body(first))[1])
    second = client.get(next_url, headers=HTMX)
    previous_url = html.unescape(
        re.search(r'rel="prev" href="([^"]+)"', body(second))[1]
    )
    back = client.get(previous_url)

    assert job_ids(first) == list(reversed(started))[:2]
    assert job_ids(second) == [started[0]]
    assert 'rel="next"' not in body(second)
    assert job_ids(back) == job_ids(first)


def test_an_expired_page_link_offers_page_one(client, viewer, datastore):
    client.force_login(viewer)

    response = client.get(
        reverse("imports:job-list", args=[datastore]) + "?page=2&cursor=stale"
    )

    assert response.status_code == 200
    assert "This list has expired." in body(response)


def test_the_tab_polls_while_a_job_is_unfinished_and_stops_when_none_are(
    client, viewer, datastore, staged, healthimaging
):
    client.force_login(viewer)
    with emulator_config(healthimaging.url, importDelaySeconds=0.5):
        job_id = start_job(datastore, staged, token="polling")
    list_url = reverse("imports:job-list", args=[datastore])

    page = client.get(list_url + "?status=")

    poll_url = reverse("imports:job-list-status", args=[datastore]) + "?status="
    assert POLL in body(page)
    assert f'hx-get="{poll_url}"' in body(page)
    assert counts(page)["SUBMITTED"] + counts(page)["IN_PROGRESS"] == 1
    deadline = time.monotonic() + 30
    while True:
        poll = client.get(poll_url, headers=HTMX)
        assert poll.status_code == 200
        if POLL not in body(poll):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job_ids(poll) == [job_id]
    assert counts(poll)["COMPLETED"] == 1
    assert body(poll).lstrip().startswith('<section id="jobs"')


def test_polls_do_not_count_as_activity(client, viewer, datastore, staged):
    client.force_login(viewer)
    job_id = start_job(datastore, staged, token="poll-activity")

    visited = client.get(reverse("imports:job-list", args=[datastore]))
    polls = [
        client.get(
            reverse("imports:job-list-status", args=[datastore]) + "?page=2&cursor=x",
            headers=HTMX,
        ),
        client.get(
            reverse("imports:job-status", args=[datastore, job_id]), headers=HTMX
        ),
    ]

    # A visit slides the session's expiry (a new cookie); a poll leaves it alone.
    assert settings.SESSION_COOKIE_NAME in visited.cookies
    for poll in polls:
        assert poll.status_code == 200
        assert settings.SESSION_COOKIE_NAME not in poll.cookies


def test_the_data_store_page_links_to_its_import_jobs(client, viewer, datastore):
    client.force_login(viewer)

    response = client.get(reverse("imagesets:image-set-list", args=[datastore]))

    page = body(response)
    assert f'href="{reverse("imports:job-list", args=[datastore])}"' in page
    assert ">Import jobs</a>" in page
    assert (
        f'href="{reverse("imagesets:image-set-list", args=[datastore])}" '
        'aria-current="page">Image sets' in page
    )


def test_an_unknown_data_store_is_a_not_found_page(client, viewer, healthimaging):
    client.force_login(viewer)
    unknown = "f" * 32

    for url in (
        reverse("imports:job-list", args=[unknown]),
        reverse("imports:job-detail", args=[unknown, "0" * 32]),
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert "no such data store or import job" in body(response)


def test_a_throttled_list_is_the_retry_page(client, viewer, datastore, healthimaging):
    client.force_login(viewer)
    url = reverse("imports:job-list", args=[datastore])

    with emulator_config(
        healthimaging.url,
        throttleShare=1,
        throttleOperations=["ListDICOMImportJobs"],
    ):
        response = client.get(url)
        fragment = client.get(url, headers=HTMX)

    assert response.status_code == 503
    assert response["Retry-After"]
    assert "HealthImaging is busy" in body(response)
    assert f'href="{url}">Try again' in body(response)
    assert fragment.status_code == 200
    assert fragment["HX-Retarget"] == "#jobs"


def test_an_unreachable_service_is_the_retry_page(client, viewer):
    client.force_login(
        viewer
    )  # no `healthimaging`: the gateway points at a closed port

    response = client.get(reverse("imports:job-list", args=["a" * 32]))

    assert response.status_code == 503
    assert "HealthImaging is unavailable" in body(response)


# A job's page


def test_a_jobs_page_shows_its_properties(client, viewer, datastore, staged):
    job_id = start_job(datastore, staged, token="detail", job_name="ct-2024/batch#1")
    job = wait_until_finished(datastore, job_id)
    client.force_login(viewer)

    response = client.get(reverse("imports:job-detail", args=[datastore, job_id]))
    fragment = client.get(
        reverse("imports:job-detail", args=[datastore, job_id]), headers=HTMX
    )

    page = body(response)
    assert response.status_code == 200
    assert "Import job ct-2024/batch#1" in page
    for value in (job_id, staged["input_s3_uri"], job.output_s3_uri, ROLE_ARN):
        assert value in page
    assert 'data-import-status="COMPLETED"' in page
    assert POLL not in page
    assert body(fragment).lstrip().startswith('<section id="import-job"')


def test_an_unknown_job_is_a_not_found_page(client, viewer, datastore):
    client.force_login(viewer)

    response = client.get(reverse("imports:job-detail", args=[datastore, "0" * 32]))

    assert response.status_code == 404
    assert reverse("imports:job-list", args=[datastore]) in body(response)


# Starting an import


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_see_start_import_and_others_are_refused(
    client, request, datastore, role, healthimaging
):
    client.force_login(request.getfixturevalue(role))
    start_url = reverse("imports:job-start", args=[datastore])

    tab = client.get(reverse("imports:job-list", args=[datastore]))
    clear_emulator_calls(healthimaging.url)
    shown = client.get(start_url)
    posted = client.post(start_url, {"input_s3_uri": "s3://bucket/"})

    assert start_url not in body(tab)
    assert shown.status_code == posted.status_code == 403
    assert "Your role does not let you start DICOM imports." in body(posted)
    assert emulator_calls(healthimaging.url) == []


def test_an_admin_starts_an_import_and_follows_it_to_the_end(
    client, admin_user, datastore, staged, healthimaging
):
    client.force_login(admin_user)
    tab = client.get(reverse("imports:job-list", args=[datastore]))
    assert reverse("imports:job-start", args=[datastore]) in body(tab)
    data = start_form(client, datastore, staged, job_name="first-ct-batch")

    with emulator_config(healthimaging.url, importDelaySeconds=0.5):
        response = client.post(reverse("imports:job-start", args=[datastore]), data)

    assert response.status_code == 302
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert response["Location"] == reverse(
        "imports:job-detail", args=[datastore, job_id]
    )
    page = client.get(response["Location"])
    assert "Import job first-ct-batch started." in body(page)
    assert re.search(r'data-import-status="(SUBMITTED|IN_PROGRESS)"', body(page))
    status_url = reverse("imports:job-status", args=[datastore, job_id])
    assert f'hx-get="{status_url}" {POLL}' in body(page)

    event = AuditEvent.objects.get(action=AuditEvent.Action.IMPORT_STARTED)
    assert event.actor == admin_user
    assert event.datastore_id == datastore
    assert event.outcome == f"Started job {job_id}"
    assert event.ip_address == "127.0.0.1"
    recorded = " ".join(
        str(value) for value in AuditEvent.objects.values_list().get(pk=event.pk)
    )
    assert "s3://" not in recorded  # folder names may name patients: not in the trail

    wait_until_finished(datastore, job_id)
    done = client.get(status_url, headers=HTMX)
    assert 'data-import-status="COMPLETED"' in body(done)
    assert POLL not in body(done)
    # The files became image sets of the data store.
    image_sets = client.get(reverse("imagesets:image-set-list", args=[datastore]))
    assert f"/datastores/{datastore}/image-sets/" in body(image_sets)


def test_a_form_sent_twice_starts_one_job_and_records_it_once(
    client, admin_user, datastore, staged, healthimaging
):
    client.force_login(admin_user)
    data = start_form(client, datastore, staged)
    url = reverse("imports:job-start", args=[datastore])

    first = client.post(url, data)
    second = client.post(url, data)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    listed = client.get(reverse("imports:job-list", args=[datastore]))
    assert len(job_ids(listed)) == 1
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT_STARTED).count() == 1
    )


def test_an_empty_job_name_is_named_after_the_forms_token(
    client, admin_user, datastore, staged
):
    client.force_login(admin_user)
    data = start_form(client, datastore, staged, job_name="")

    response = client.post(reverse("imports:job-start", args=[datastore]), data)

    page = client.get(response["Location"])
    assert f"Import job import-{data['client_token']}" in body(page)


def test_an_invalid_form_keeps_what_was_typed_and_calls_nothing(
    client, admin_user, datastore, healthimaging
):
    client.force_login(admin_user)
    data = start_form(
        client,
        datastore,
        {
            "input_s3_uri": "s3://My Bucket/dicom/",
            "output_s3_uri": "s3://results-bucket/",
        },
        data_access_role_arn="arn:aws:iam::123:role/x",
        input_owner_account_id="12345",
    )
    clear_emulator_calls(healthimaging.url)

    response = client.post(reverse("imports:job-start", args=[datastore]), data)

    page = body(response)
    assert response.status_code == 200
    assert "Enter an S3 URI such as s3://my-bucket/dicom/" in page
    assert "Enter an IAM role ARN such as" in page
    assert "Enter the 12 digits of an AWS account ID" in page
    assert form_values(response) == data
    assert emulator_calls(healthimaging.url, operation="StartDICOMImportJob") == []
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.IMPORT_STARTED
    ).exists()


def test_a_form_without_its_token_asks_to_be_opened_again(
    client, admin_user, datastore, staged, healthimaging
):
    client.force_login(admin_user)
    data = start_form(client, datastore, staged)
    del data["client_token"]
    clear_emulator_calls(healthimaging.url)

    response = client.post(reverse("imports:job-start", args=[datastore]), data)

    assert response.status_code == 200
    assert "Open the form again" in body(response)
    assert emulator_calls(healthimaging.url, operation="StartDICOMImportJob") == []


def test_a_refusal_by_the_service_is_shown_on_the_form_with_what_was_typed(
    client, admin_user, datastore, staged
):
    client.force_login(admin_user)
    data = start_form(client, datastore, staged, job_name="first-name")
    url = reverse("imports:job-start", args=[datastore])
    assert client.post(url, data).status_code == 302

    # The same token with other values: HealthImaging will not start a second job with it.
    response = client.post(url, data | {"job_name": "second-name"})

    assert response.status_code == 200
    assert "HealthImaging did not start the import" in body(response)
    assert form_values(response)["job_name"] == "second-name"
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT_STARTED).count() == 1
    )


def test_a_throttled_start_keeps_what_was_typed_to_send_again(
    client, admin_user, datastore, staged, healthimaging
):
    client.force_login(admin_user)
    data = start_form(client, datastore, staged, job_name="throttled-batch")
    url = reverse("imports:job-start", args=[datastore])

    with emulator_config(
        healthimaging.url,
        throttleShare=1,
        throttleOperations=["StartDICOMImportJob"],
    ):
        refused = client.post(url, data)

    assert refused.status_code == 503
    assert refused["Retry-After"]
    assert "HealthImaging is busy" in body(refused)
    assert "Nothing you sent was lost" in body(refused)
    resent = form_values(refused)
    assert resent == data
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.IMPORT_STARTED
    ).exists()

    again = client.post(url, resent)

    assert again.status_code == 302
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT_STARTED).count() == 1
    )


def test_starting_into_an_unknown_data_store_is_a_not_found_page(
    client, admin_user, staged, healthimaging
):
    client.force_login(admin_user)
    url = reverse("imports:job-start", args=["f" * 32])

    shown = client.get(url)
    posted = client.post(
        url,
        staged
        | {
            "data_access_role_arn": ROLE_ARN,
            "client_token": "a" * 32,
            "job_name": "x",
        },
    )

    assert shown.status_code == posted.status_code == 404
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.IMPORT_STARTED
    ).exists()


def test_every_control_of_the_start_form_has_a_visible_label(
    client, admin_user, datastore
):
    client.force_login(admin_user)

    page = body(client.get(reverse("imports:job-start", args=[datastore])))

    for name in (
        "input_s3_uri",
        "output_s3_uri",
        "data_access_role_arn",
        "job_name",
        "input_owner_account_id",
    ):
        assert f'<label for="id_{name}">' in page
    assert 'type="hidden" name="client_token"' in page
    assert "<script" not in page.split("</head>", 1)[1]
    assert "style=" not in page


def test_a_value_the_service_refuses_is_shown_on_the_form_with_what_was_typed(
    client, admin_user, datastore, staged, healthimaging
):
    """The form checks what the model says; the service may refuse more (here: an output
    prefix so long that the job's own folder would not fit within 1024 characters)."""
    client.force_login(admin_user)
    long_output = staged["output_s3_uri"] + "x" * (1000 - len(staged["output_s3_uri"]))
    data = start_form(client, datastore, staged, output_s3_uri=long_output)

    response = client.post(reverse("imports:job-start", args=[datastore]), data)

    assert response.status_code == 200
    assert "HealthImaging refused the import: " in body(response)
    assert "Check the values and try again." in body(response)
    assert form_values(response)["output_s3_uri"] == long_output
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.IMPORT_STARTED
    ).exists()

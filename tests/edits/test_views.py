"""The edit pages through Django's test client, against the live emulator.

Queued edits are not sent to a worker (`scheduled`): these tests are about the pages.
"""

import datetime
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway

pytestmark = pytest.mark.django_db

SCRIPT_NAME = "<script>alert(1)</script>"
Status = MetadataEdit.Status


@pytest.fixture
def signed_in(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def image_set(image_sets):
    datastore_id, (image_set_id, *_) = image_sets
    return datastore_id, image_set_id


def form_url(image_set) -> str:
    return reverse("edits:edit-form", args=image_set)


def detail_url(image_set) -> str:
    return reverse("imagesets:image-set-detail", args=image_set)


def current(image_set, level: str, keyword: str):
    document = get_gateway().get_image_set_metadata(*image_set)
    return document[level]["DICOM"].get(keyword)


def hidden_and_text_inputs(body: str) -> dict[str, str]:
    """The name and value of every <input> with a value and every <textarea>, unescaped."""
    values = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"', body
        )
    }
    values |= {
        html.unescape(name): html.unescape(text.lstrip("\n"))
        for name, text in re.findall(
            r'<textarea[^>]*\bname="([^"]+)"[^>]*>(.*?)</textarea>', body, re.S
        )
    }
    return values


def form_data(signed_in, image_set, **typed) -> dict[str, str]:
    """The form as the page loads it (the browser's view of it), with `typed` filled in."""
    body = signed_in.get(form_url(image_set)).content.decode()
    data = {
        name: value
        for name, value in hidden_and_text_inputs(body).items()
        if name != "csrfmiddlewaretoken"
    }
    data["patient_sex"] = current(image_set, "Patient", "PatientSex") or ""
    data["reason"] = "Misspelled at registration"
    data |= typed
    return data


def queue_name_change(signed_in, image_set, name: str = "DOE^JANE") -> MetadataEdit:
    data = form_data(signed_in, image_set, patient_name=name, action="queue")
    response = signed_in.post(form_url(image_set), data)
    assert response.status_code == 302, response.content.decode()
    return MetadataEdit.objects.latest("created_at")


def make_edit(user, image_set, *, status=Status.QUEUED, **fields) -> MetadataEdit:
    datastore_id, image_set_id = image_set
    terminal = status not in MetadataEdit.ACTIVE
    return MetadataEdit.objects.create(
        requested_by=user,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=1,
        changes=[
            AttributeChange(
                level="Patient",
                attribute="PatientName",
                old=current(image_set, "Patient", "PatientName"),
                new="EDITED^NAME",
            ).as_json()
        ],
        reason="Typo",
        status=status,
        finished_at=timezone.now() if terminal else None,
        **fields,
    )


# -- the form ------------------------------------------------------------------------------


def test_edit_form_redirects_anonymous_users_to_login(client, image_set):
    url = form_url(image_set)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_edit_form_is_prefilled_from_the_latest_version(signed_in, image_set):
    response = signed_in.get(form_url(image_set))

    assert response.status_code == 200
    inputs = hidden_and_text_inputs(response.content.decode())
    assert inputs["base_version"] == "1"
    assert inputs["patient_name"] == current(image_set, "Patient", "PatientName")
    assert inputs["study_description"] == current(
        image_set, "Study", "StudyDescription"
    )
    body = response.content.decode()
    for label in ("Patient name", "Study time", "Reason for change"):
        assert f">{label}</label>" in body
    assert "Force (override" not in body  # Force is an admin's, not an editor's


def test_image_set_page_links_to_the_edit_form(signed_in, image_set):
    body = signed_in.get(detail_url(image_set)).content.decode()

    assert f'href="{form_url(image_set)}">Edit metadata</a>' in body


def test_edit_form_of_an_unknown_image_set_is_not_found(signed_in, image_sets):
    datastore_id, _ = image_sets

    response = signed_in.get(form_url((datastore_id, "f" * 32)))

    assert response.status_code == 404


def test_review_shows_old_and_new_values_and_the_payload(
    signed_in, image_set, scheduled
):
    old_name = current(image_set, "Patient", "PatientName")
    data = form_data(signed_in, image_set, patient_name="DOE^JANE", action="review")

    response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 200
    assert response.templates[0].name == "edits/edit_review.html"
    body = response.content.decode()
    assert html.escape(old_name) in body
    assert "DOE^JANE" in body
    assert "&quot;updatableAttributes&quot;" in body
    assert "&quot;PatientName&quot;: &quot;DOE^JANE&quot;" in body
    assert "Misspelled at registration" in body
    assert re.search(r'value="queue"[^>]*>Queue update</button>', body)
    assert re.search(r'value="edit"[^>]*>Back to edit</button>', body)
    assert not MetadataEdit.objects.exists()
    assert scheduled == []


def test_review_carries_the_whole_form_back_to_edit(client, admin_user, image_set):
    client.force_login(admin_user)  # Force is an admin's
    signed_in = client
    data = form_data(
        signed_in,
        image_set,
        patient_name="DOE^JANE",
        reason="Typo\nat registration",
        force="on",
        action="review",
    )
    review = signed_in.post(form_url(image_set), data).content.decode()
    carried = hidden_and_text_inputs(review)
    carried.pop("csrfmiddlewaretoken")

    back = signed_in.post(form_url(image_set), {**carried, "action": "edit"})

    assert back.templates[0].name == "edits/edit_form.html"
    shown = hidden_and_text_inputs(back.content.decode())
    assert shown["patient_name"] == "DOE^JANE"
    assert shown["reason"] == "Typo\nat registration"
    assert re.search(r'<input[^>]*name="force"[^>]*checked', back.content.decode())
    assert "form__error" not in back.content.decode()


def test_queue_update_saves_one_edit_and_redirects_to_the_image_set(
    signed_in, image_set, scheduled, editor, django_capture_on_commit_callbacks
):
    old_name = current(image_set, "Patient", "PatientName")
    data = form_data(
        signed_in, image_set, patient_name="Doe^Jane=山田^花子", action="queue"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 302
    assert response["Location"] == detail_url(image_set)
    edit = MetadataEdit.objects.get()
    assert edit.requested_by == editor
    assert (edit.datastore_id, edit.image_set_id) == image_set
    assert edit.base_version == 1
    assert edit.reason == "Misspelled at registration"
    assert edit.force is False
    assert edit.attribute_changes == [
        AttributeChange(
            level="Patient",
            attribute="PatientName",
            old=old_name,
            new="Doe^Jane=山田^花子",
        )
    ]
    assert scheduled == [(str(edit.pk), 0)]


def test_queue_update_revalidates_what_the_review_carried(
    signed_in, image_set, scheduled
):
    data = form_data(
        signed_in,
        image_set,
        action="queue",
        **{
            "rows-0-level": "Study",
            "rows-0-attribute": "StudyInstanceUID",
            "rows-0-value": "1.2.3",
        },
    )

    response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 200
    assert "This change needs Force" in response.content.decode()
    assert not MetadataEdit.objects.exists()


def test_queue_update_without_a_reason_keeps_the_input_and_queues_nothing(
    signed_in, image_set, scheduled
):
    data = form_data(
        signed_in, image_set, patient_name="DOE^JANE", reason="", action="queue"
    )

    response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Give a reason for the change." in body
    assert 'aria-describedby="id_reason_helptext id_reason_error"' in body
    assert hidden_and_text_inputs(body)["patient_name"] == "DOE^JANE"
    assert not MetadataEdit.objects.exists()
    assert scheduled == []


def test_a_second_edit_while_one_is_active_is_refused_with_the_input_kept(
    signed_in, image_set, scheduled
):
    queue_name_change(signed_in, image_set)
    data = form_data(signed_in, image_set, study_description="CT HEAD", action="queue")

    response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 200
    body = response.content.decode()
    assert "This image set already has an edit in progress" in body
    assert hidden_and_text_inputs(body)["study_description"] == "CT HEAD"
    assert MetadataEdit.objects.count() == 1


def test_queue_update_uses_the_version_the_user_saw(signed_in, image_set, scheduled):
    """The image set moved on after the form was loaded: the edit still goes against the
    version the user saw, and the job will report the conflict."""
    data = form_data(signed_in, image_set, patient_name="DOE^JANE", action="queue")
    get_gateway().update_image_set_metadata(
        *image_set,
        latest_version=1,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Study": {"DICOM": {"StudyDescription": "SOMEONE ELSE"}},
            }
        },
    )

    response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 302
    assert MetadataEdit.objects.get().base_version == 1


def test_add_row_keeps_everything_typed_without_errors(signed_in, image_set):
    data = form_data(
        signed_in, image_set, patient_name="DOE^JANE", reason="", add_row="1"
    )

    response = signed_in.post(form_url(image_set), data)

    body = response.content.decode()
    inputs = hidden_and_text_inputs(body)
    assert inputs["rows-TOTAL_FORMS"] == "2"
    assert inputs["patient_name"] == "DOE^JANE"
    assert 'name="rows-1-attribute"' in body
    assert "form__error" not in body


def test_a_healthimaging_failure_on_review_keeps_the_input(
    signed_in, image_set, settings
):
    data = form_data(signed_in, image_set, patient_name="DOE^JANE", action="review")
    settings.HEALTHIMAGING_ENDPOINT_URL = "http://127.0.0.1:9"
    get_gateway.cache_clear()

    response = signed_in.post(form_url(image_set), data)

    assert response.status_code == 503
    inputs = hidden_and_text_inputs(response.content.decode())
    assert inputs["patient_name"] == "DOE^JANE"
    assert inputs["action"] == "review"
    assert "Try again</button>" in response.content.decode()


def test_review_and_edit_pages_escape_markup_in_values(signed_in, image_set, scheduled):
    data = form_data(signed_in, image_set, patient_name=SCRIPT_NAME, action="review")

    review = signed_in.post(form_url(image_set), data).content.decode()
    edit = queue_name_change(signed_in, image_set, SCRIPT_NAME)
    page = signed_in.get(reverse("edits:edit-detail", args=[edit.pk])).content.decode()

    for body in (review, page):
        assert SCRIPT_NAME not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# -- status ------------------------------------------------------------------------------


def test_image_set_page_shows_the_status_of_the_users_active_edit(
    signed_in, image_set, editor
):
    edit = make_edit(editor, image_set)

    body = signed_in.get(detail_url(image_set)).content.decode()

    panel = body.split('id="edit-status"')[1].split("</section>")[0]
    assert 'role="status"' in panel
    assert f'hx-get="{reverse("edits:edit-status", args=[edit.pk])}"' in panel
    assert 'hx-trigger="every 2s"' in panel
    assert "Queued" in panel
    assert "PatientName" in panel
    assert f'href="{detail_url(image_set)}">Refresh status</a>' in panel
    assert 'hx-trigger="edit-finished from:body"' in body


def test_image_set_page_shows_no_panel_for_old_or_other_users_edits(
    signed_in, image_set, editor, django_user_model
):
    make_edit(django_user_model.objects.create_user("other"), image_set)
    old = make_edit(editor, image_set, status=Status.SUCCEEDED)
    MetadataEdit.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - datetime.timedelta(hours=2)
    )

    body = signed_in.get(detail_url(image_set)).content.decode()

    assert 'id="edit-status"' not in body


def test_status_fragment_keeps_polling_while_the_edit_is_active(
    signed_in, image_set, editor
):
    edit = make_edit(editor, image_set, status=Status.UPDATING)

    response = signed_in.get(
        reverse("edits:edit-status", args=[edit.pk]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.templates[0].name == "edits/partials/edit_status.html"
    body = response.content.decode()
    assert 'hx-trigger="every 2s"' in body
    assert "Updating" in body
    assert "HX-Trigger" not in response.headers
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    "status", [Status.SUCCEEDED, Status.FAILED, Status.CONFLICT, Status.TIMED_OUT]
)
def test_status_fragment_stops_polling_and_tells_the_page_when_finished(
    signed_in, image_set, editor, status
):
    edit = make_edit(editor, image_set, status=status, message="Done here")

    response = signed_in.get(
        reverse("edits:edit-status", args=[edit.pk]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 286
    assert response["HX-Trigger"] == '{"edit-finished": {}}'
    body = response.content.decode()
    assert "hx-trigger" not in body
    assert status.label in body
    assert "Done here" in body


@pytest.mark.parametrize(
    "headers",
    [{}, {"HX-Request": "true", "HX-History-Restore-Request": "true"}],
    ids=["without-htmx", "history-restore"],
)
def test_status_page_is_a_whole_page_unless_swapped(
    signed_in, image_set, editor, headers
):
    edit = make_edit(editor, image_set, status=Status.SUCCEEDED)

    response = signed_in.get(
        reverse("edits:edit-status", args=[edit.pk]), headers=headers
    )

    assert response.status_code == 200
    assert response.templates[0].name == "edits/edit_status.html"
    assert "Succeeded" in response.content.decode()
    assert "HX-Trigger" not in response.headers


# -- the edit page -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("edits:edit-detail", "get"),
        ("edits:edit-status", "get"),
        ("edits:edit-reapply", "post"),
        ("edits:edit-check-again", "post"),
    ],
)
def test_another_users_edit_is_not_found(
    signed_in, image_set, django_user_model, scheduled, name, method
):
    other = django_user_model.objects.create_user("other")
    edit = make_edit(other, image_set, status=Status.CONFLICT)

    response = getattr(signed_in, method)(reverse(name, args=[edit.pk]))

    assert response.status_code == 404
    assert MetadataEdit.objects.count() == 1


def test_a_superuser_may_see_anyones_edit(client, image_set, django_user_model):
    admin = django_user_model.objects.create_superuser("admin")
    edit = make_edit(
        django_user_model.objects.create_user("other"),
        image_set,
        status=Status.SUCCEEDED,
    )
    client.force_login(admin)

    response = client.get(reverse("edits:edit-detail", args=[edit.pk]))

    assert response.status_code == 200


def test_edit_page_shows_the_request_and_its_outcome(signed_in, image_set, editor):
    edit = make_edit(
        editor,
        image_set,
        status=Status.SUCCEEDED,
        accepted_version=2,
        message="Updated by HealthImaging",
    )

    body = signed_in.get(reverse("edits:edit-detail", args=[edit.pk])).content.decode()

    assert "Succeeded" in body
    assert "1 → 2" in body
    assert "Typo" in body
    assert "Updated by HealthImaging" in body
    assert "EDITED^NAME" in body
    assert "&quot;PatientName&quot;: &quot;EDITED^NAME&quot;" in body
    assert "Re-apply on latest version" not in body
    assert "Check again" not in body


def test_edit_page_of_a_conflict_shows_what_changed_since(signed_in, image_set, editor):
    edit = make_edit(editor, image_set, status=Status.CONFLICT)
    get_gateway().update_image_set_metadata(
        *image_set,
        latest_version=1,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Patient": {"DICOM": {"PatientName": "SOMEONE^ELSE"}},
            }
        },
    )

    body = signed_in.get(reverse("edits:edit-detail", args=[edit.pk])).content.decode()

    drift = body.split("What changed since you edited")[1]
    assert "Now (version 2)" in drift
    assert "SOMEONE^ELSE" in drift
    assert html.escape(edit.attribute_changes[0].old) in drift
    assert "EDITED^NAME" in drift
    assert "Re-apply on latest version</button>" in body


def test_reapply_queues_the_changes_again_on_the_latest_version(
    signed_in, image_set, editor, scheduled, django_capture_on_commit_callbacks
):
    edit = make_edit(editor, image_set, status=Status.CONFLICT)

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("edits:edit-reapply", args=[edit.pk]))

    assert response.status_code == 302
    assert response["Location"] == detail_url(image_set)
    again = MetadataEdit.objects.exclude(pk=edit.pk).get()
    assert again.reapplies == edit
    assert again.status == Status.QUEUED
    assert again.attribute_changes == edit.attribute_changes
    assert scheduled == [(str(again.pk), 0)]


def test_reapply_that_is_refused_says_why(signed_in, image_set, editor, scheduled):
    edit = make_edit(editor, image_set, status=Status.SUCCEEDED)

    response = signed_in.post(
        reverse("edits:edit-reapply", args=[edit.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == reverse(
        "edits:edit-detail", args=[edit.pk]
    )
    assert "Only an edit in conflict, or one that failed" in response.content.decode()
    assert MetadataEdit.objects.count() == 1


def test_check_again_resumes_an_edit_that_was_still_locked(
    signed_in, image_set, editor, scheduled, django_capture_on_commit_callbacks
):
    edit = make_edit(editor, image_set, status=Status.TIMED_OUT)
    page = signed_in.get(reverse("edits:edit-detail", args=[edit.pk])).content.decode()
    assert "Still locked" in page
    assert "Check again</button>" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("edits:edit-check-again", args=[edit.pk]))

    assert response.status_code == 302
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED
    assert scheduled == [(str(edit.pk), 0)]


def test_edit_actions_only_accept_post(signed_in, image_set, editor):
    edit = make_edit(editor, image_set, status=Status.CONFLICT)

    for name in ("edits:edit-reapply", "edits:edit-check-again"):
        assert signed_in.get(reverse(name, args=[edit.pk])).status_code == 405


def test_unknown_edit_is_not_found(signed_in):
    url = reverse("edits:edit-detail", args=["00000000-0000-0000-0000-000000000000"])

    assert signed_in.get(url).status_code == 404


# -- My edits ------------------------------------------------------------------------------


def test_my_edits_lists_only_the_users_own_edits_newest_first(
    signed_in, image_sets, editor, django_user_model
):
    datastore_id, ids = image_sets
    older = make_edit(editor, (datastore_id, ids[0]), status=Status.SUCCEEDED)
    newer = make_edit(editor, (datastore_id, ids[1]))
    theirs = make_edit(
        django_user_model.objects.create_user("other"), (datastore_id, ids[2])
    )

    response = signed_in.get(reverse("edits:edit-list"))

    body = response.content.decode()
    assert re.findall(r'data-edit-id="([^"]+)"', body) == [str(newer.pk), str(older.pk)]
    assert str(theirs.pk) not in body
    assert "Succeeded" in body
    assert "PatientName" in body
    assert f'href="{reverse("edits:edit-detail", args=[older.pk])}"' in body
    assert 'href="/edits/" aria-current="true">My edits</a>' in body


def test_my_edits_pages_by_25(signed_in, image_set, editor):
    for _ in range(26):
        make_edit(editor, image_set, status=Status.FAILED)

    first = signed_in.get(reverse("edits:edit-list")).content.decode()
    second = signed_in.get(reverse("edits:edit-list") + "?page=2").content.decode()

    assert len(re.findall(r"data-edit-id=", first)) == 25
    assert len(re.findall(r"data-edit-id=", second)) == 1
    assert 'href="?page=2">Next page</a>' in first


def test_a_poll_after_the_session_ended_sends_the_browser_to_sign_in_and_back(
    client, editor, image_set
):
    """Not a login form swapped into the panel: the whole page goes to sign in, and back
    to the page the user was on, not to the fragment."""
    edit = make_edit(editor, image_set)
    page = f"http://testserver{detail_url(image_set)}"

    response = client.get(
        reverse("edits:edit-status", args=[edit.pk]),
        headers={"HX-Request": "true", "HX-Current-URL": page},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next={detail_url(image_set)}"


def test_a_poll_from_a_foreign_page_does_not_redirect_there_after_sign_in(
    client, editor, image_set
):
    edit = make_edit(editor, image_set)
    status_url = reverse("edits:edit-status", args=[edit.pk])

    response = client.get(
        status_url,
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"},
    )

    assert "evil.example" not in response["HX-Redirect"]
    assert response["HX-Redirect"] == f"{reverse('login')}?next={status_url}"

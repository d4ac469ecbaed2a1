"""Force is an admin's: only a role with FORCE_EDIT sees it, and a posted one is refused."""

import pytest
from django.urls import reverse

from apps.edits.forms import FORCE_REFUSED
from apps.edits.models import MetadataEdit
from tests.accounts.conftest import form_inputs

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_worker(monkeypatch):
    from apps.edits import services

    monkeypatch.setattr(services, "schedule_step", lambda edit_id, countdown=0: None)


def loaded_form(client, image_set, **typed):
    url = reverse("edits:edit-form", args=image_set)
    body = client.get(url).content.decode()
    return body, form_inputs(body) | {"reason": "Typo at registration"} | typed


def test_the_force_option_is_shown_to_an_admin_only(client, make_user, image_set):
    client.force_login(make_user("editor"))
    editor_body, _ = loaded_form(client, image_set)
    client.force_login(make_user("admin"))
    admin_body, _ = loaded_form(client, image_set)

    assert 'name="force"' not in editor_body
    assert "Force (override" not in editor_body
    assert 'name="force"' in admin_body
    assert "Force (override" in admin_body


@pytest.mark.parametrize("action", ["review", "queue"])
def test_an_editor_who_posts_force_is_refused_with_an_error(
    client, make_user, image_set, no_worker, action
):
    client.force_login(make_user("editor"))
    _, data = loaded_form(
        client, image_set, patient_name="DOE^JANE", force="on", action=action
    )

    response = client.post(reverse("edits:edit-form", args=image_set), data)

    assert response.status_code == 200
    assert response.templates[0].name == "edits/edit_form.html"
    assert FORCE_REFUSED in response.content.decode()
    assert not MetadataEdit.objects.exists()


def test_an_editor_without_force_still_queues(client, make_user, image_set, no_worker):
    client.force_login(make_user("editor"))
    _, data = loaded_form(client, image_set, patient_name="DOE^JANE", action="queue")

    response = client.post(reverse("edits:edit-form", args=image_set), data)

    assert response.status_code == 302
    assert MetadataEdit.objects.get().force is False


def test_a_change_that_needs_force_tells_an_editor_only_an_admin_can(
    client, make_user, image_set
):
    client.force_login(make_user("editor"))
    _, data = loaded_form(
        client,
        image_set,
        action="review",
        **{
            "rows-0-level": "Study",
            "rows-0-attribute": "StudyID",
            "rows-0-value": "S-123",
        },
    )

    body = client.post(reverse("edits:edit-form", args=image_set), data).content
    body = body.decode()

    assert "This change needs Force" in body
    assert "Only an administrator can use Force." in body
    assert "Tick Force below" not in body


def test_an_admin_may_force_and_its_use_is_recorded(
    client, make_user, image_set, no_worker
):
    client.force_login(make_user("admin"))
    _, data = loaded_form(
        client, image_set, patient_name="DOE^JANE", force="on", action="queue"
    )

    response = client.post(reverse("edits:edit-form", args=image_set), data)

    assert response.status_code == 302
    assert MetadataEdit.objects.get().force is True


def test_the_review_shows_force_to_an_admin_only(client, make_user, image_set):
    url = reverse("edits:edit-form", args=image_set)
    shown = {}
    for role in ("editor", "admin"):
        client.force_login(make_user(role))
        _, data = loaded_form(
            client, image_set, patient_name="DOE^JANE", action="review"
        )
        response = client.post(url, data)
        assert response.templates[0].name == "edits/edit_review.html"
        shown[role] = "<dt>Force</dt>" in response.content.decode()

    assert shown == {"editor": False, "admin": True}

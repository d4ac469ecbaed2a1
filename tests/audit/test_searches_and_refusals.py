"""Searches (they show patients' names and IDs) and refused requests are audited."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.roles import EDITOR, VIEWER
from apps.audit.models import AuditEvent
from apps.audit.services import OUTCOME_LENGTH, audit_search

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def only_row(action: str) -> AuditEvent:
    (row,) = AuditEvent.objects.filter(action=action)
    return row


def test_a_search_page_records_who_searched_which_data_store_for_what(
    client, make_user, healthimaging, browse_archive
):
    datastore_id, _ = browse_archive
    viewer = make_user(VIEWER)
    client.force_login(viewer)
    url = reverse("imagesets:image-set-list", args=[datastore_id])

    page = client.get(url, {"property": "patient_id", "value": "PAT-0001"})
    fragment = client.get(url, headers={"HX-Request": "true", "HX-Target": "results"})

    assert (page.status_code, fragment.status_code) == (200, 200)
    rows = list(AuditEvent.objects.filter(action=Action.SEARCHED).order_by("at"))
    assert [(row.actor, row.datastore_id, row.image_set_id) for row in rows] == [
        (viewer, datastore_id, ""),
        (viewer, datastore_id, ""),
    ]
    assert rows[0].outcome.startswith("Searched; 0 shown; ")
    assert "property=patient_id" in rows[0].outcome
    assert "value=PAT-0001" in rows[0].outcome
    assert rows[1].outcome.startswith("Searched; 25 shown; ")
    assert rows[0].ip_address == "127.0.0.1"


def test_a_search_the_form_refuses_is_not_a_search(client, make_user, browse_archive):
    datastore_id, _ = browse_archive
    client.force_login(make_user(VIEWER))

    client.get(
        reverse("imagesets:image-set-list", args=[datastore_id]),
        {"property": "patient_id", "value": ""},
    )

    assert not AuditEvent.objects.filter(action=Action.SEARCHED).exists()


def test_an_api_search_names_the_token(make_user, healthimaging, browse_archive):
    datastore_id, _ = browse_archive
    token, plaintext = tokens.token_create(
        user=make_user(VIEWER), name="script", expires_in_days=None, request=None
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    response = api.get(
        reverse("api:image-set-list", args=[datastore_id]), {"page_size": 10}
    )

    assert response.status_code == 200
    row = only_row(Action.SEARCHED)
    assert row.outcome.startswith(
        f"Searched through the API (token {token.prefix}); 10 shown; "
    )


def test_long_criteria_are_shortened_to_fit(make_user):
    request = RequestFactory().get("/")
    request.user = make_user(VIEWER)

    row = audit_search(
        request,
        datastore_id="a" * 32,
        parameters={"property": "series_instance_uid", "value": "1." * 200},
        shown=3,
    )

    assert len(row.outcome) == OUTCOME_LENGTH
    assert row.outcome.startswith("Searched; 3 shown; property=series_instance_uid")
    assert row.outcome.endswith("…")


def test_a_refused_page_records_the_user_the_request_and_the_image_set(
    client, make_user, browse_archive
):
    datastore_id, image_set_ids = browse_archive
    viewer = make_user(VIEWER)
    client.force_login(viewer)
    url = reverse("edits:edit-form", args=[datastore_id, image_set_ids[0]])

    assert client.get(url).status_code == 403

    row = only_row(Action.ACCESS_DENIED)
    assert (row.actor, row.datastore_id, row.image_set_id) == (
        viewer,
        datastore_id,
        image_set_ids[0],
    )
    assert row.outcome == f"GET {url}: the role may not edit metadata"


def test_signed_out_requests_are_sent_to_sign_in_not_recorded(client):
    assert client.get(reverse("audit:audit-log")).status_code == 302
    assert not AuditEvent.objects.filter(action=Action.ACCESS_DENIED).exists()


def test_a_refused_api_request_is_recorded_and_one_without_credentials_is_not(
    make_user, browse_archive
):
    datastore_id, image_set_ids = browse_archive
    editor = make_user(EDITOR)
    _, plaintext = tokens.token_create(
        user=editor, name="script", expires_in_days=None, request=None
    )
    url = reverse("api:revert-create", args=[datastore_id, image_set_ids[0]])
    api = APIClient()

    assert api.post(url, {}, format="json").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.post(url, {}, format="json").status_code == 403

    row = only_row(Action.ACCESS_DENIED)
    assert (row.actor, row.image_set_id) == (editor, image_set_ids[0])
    assert row.outcome == f"POST {url}: Your role does not let you revert image sets."

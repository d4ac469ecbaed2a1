"""Versions, diffs and the audit log through the API: the history pages' selectors and the
audit page's filters."""

import csv
import io

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.edits.models import MetadataEdit
from tests.support.edits import run_to_end

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def renamed(api_as, image_sets, scheduled):
    """An image set the editor `alice` renamed through the API: versions 1 and 2."""
    datastore_id, (image_set_id, *_) = image_sets
    alice = api_as("editor", username="alice")
    response = alice.post(
        reverse("api:edit-create", args=[datastore_id, image_set_id]),
        {
            "reason": "Misspelled at registration",
            "changes": [
                {"level": "Patient", "attribute": "PatientName", "value": "DOE^JANE"}
            ],
        },
        format="json",
    )
    edit = run_to_end(MetadataEdit.objects.get(pk=response.json()["id"]))
    assert edit.status == MetadataEdit.Status.SUCCEEDED
    return datastore_id, image_set_id, alice, edit


def test_versions_newest_first_with_the_portal_edit_that_made_one(renamed, api_as):
    datastore_id, image_set_id, alice, edit = renamed
    url = reverse("api:version-list", args=[datastore_id, image_set_id])

    mine = alice.get(url).json()["items"]
    theirs = api_as("viewer").get(url).json()["items"]

    assert [row["version"] for row in mine] == [2, 1]
    assert mine[0]["is_latest"]
    assert not mine[0]["can_be_restored"]
    assert mine[1]["can_be_restored"]
    assert mine[1]["made_by_portal"] is None
    assert mine[0]["made_by_portal"] == {
        "edit_id": str(edit.pk),
        "kind": "edit",
        "requested_by": "alice",
        "reason": "Misspelled at registration",
    }
    # Others read who made it and why, but not a link to an edit they may not open.
    assert theirs[0]["made_by_portal"]["edit_id"] is None
    assert theirs[0]["made_by_portal"]["requested_by"] == "alice"


def test_the_diff_of_two_versions_names_each_change(renamed, api_as):
    datastore_id, image_set_id, _, _ = renamed
    url = reverse("api:diff", args=[datastore_id, image_set_id])
    api = api_as("viewer")

    latest = api.get(url).json()
    explicit = api.get(url, {"from": 1, "to": 2}).json()
    everything = api.get(url, {"from": 1, "to": 2, "all": "true"}).json()
    backwards = api.get(url, {"from": 2, "to": 1}).json()
    missing = api.get(url, {"from": 1, "to": 9})

    assert latest == explicit
    assert (latest["from_version"], latest["to_version"]) == (1, 2)
    assert (latest["added"], latest["removed"], latest["changed"]) == (0, 0, 1)
    [level] = latest["levels"]
    assert level["kind"] == "patient"
    assert [(row["key"], row["change"], row["new"]) for row in level["attributes"]] == [
        ("PatientName", "changed", "DOE^JANE")
    ]
    assert len(everything["levels"]) > 1
    assert any(
        row["change"] == "unchanged"
        for level in everything["levels"]
        for row in level["attributes"]
    )
    assert backwards["levels"][0]["attributes"][0]["new"] != "DOE^JANE"
    assert missing.status_code == 400
    assert "There is no version 9" in missing.json()["message"]


def test_api_reads_of_metadata_are_audited(renamed, api_as):
    datastore_id, image_set_id, _, _ = renamed
    viewer = api_as("viewer", username="reader")

    viewer.get(
        reverse("api:image-set-metadata", args=[datastore_id, image_set_id]),
        {"version": 1},
    )
    viewer.get(reverse("api:diff", args=[datastore_id, image_set_id]))

    events = AuditEvent.objects.filter(
        actor__username="reader", action=AuditEvent.Action.METADATA_VIEWED
    ).order_by("at")
    prefix = viewer.user.api_tokens.get().prefix
    assert [(event.outcome, event.version_to) for event in events] == [
        (f"Read through the API (token {prefix})", 1),
        (f"Compared versions through the API (token {prefix})", 2),
    ]
    assert all(event.image_set_id == image_set_id for event in events)


def test_the_audit_log_filters_as_the_page_does(renamed, api_as):
    datastore_id, image_set_id, _, edit = renamed
    admin = api_as("admin")
    url = reverse("api:audit-event-list")

    by_edit_action = admin.get(url, {"action": "edit.succeeded"}).json()
    by_user = admin.get(url, {"user": "alice", "image_set_id": image_set_id}).json()
    empty = admin.get(url, {"start": "2100-01-01"}).json()
    invalid = admin.get(url, {"start": "yesterday", "action": "nonsense"})

    [succeeded] = by_edit_action["results"]
    assert succeeded["edit_id"] == str(edit.pk)
    assert succeeded["actor"] == "alice"
    assert succeeded["version_to"] == 2
    assert {event["action"] for event in by_user["results"]} >= {
        "edit.queued",
        "edit.accepted",
        "edit.succeeded",
    }
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}
    assert invalid.status_code == 400
    assert set(invalid.json()["fields"]) == {"start", "action"}


def test_the_audit_log_pages_and_exports_csv(renamed, api_as):
    _, image_set_id, _, _ = renamed
    admin = api_as("admin")

    first = admin.get(reverse("api:audit-event-list"), {"page_size": 2}).json()
    second = admin.get(first["next"]).json()
    export = admin.get(
        reverse("api:audit-event-export"), {"image_set_id": image_set_id}
    )

    assert len(first["results"]) == 2
    assert {e["id"] for e in first["results"]}.isdisjoint(
        {e["id"] for e in second["results"]}
    )
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert export["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][0] == "time_utc"
    assert len(rows) - 1 == AuditEvent.objects.filter(image_set_id=image_set_id).count()


def test_the_export_answers_csv_to_a_client_that_asks_for_csv(renamed, api_as):
    admin = api_as("admin")
    url = reverse("api:audit-event-export")

    asked = admin.get(url, HTTP_ACCEPT="text/csv")
    invalid = admin.get(url, {"start": "never"}, HTTP_ACCEPT="text/csv")

    assert asked.status_code == 200
    assert asked["Content-Type"] == "text/csv; charset=utf-8"
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid"

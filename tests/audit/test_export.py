"""The CSV export: exactly the filtered records, the agreed columns, safe in a spreadsheet."""

import csv
import io

import pytest

from apps.audit.exports import COLUMNS, safe_cell
from apps.audit.models import AuditEvent
from tests.audit.conftest import (
    DATASTORE,
    IMAGE_SET,
    OTHER_DATASTORE,
    at,
    event,
)

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
EXPORT_URL = "/audit/export.csv"


def exported(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == COLUMNS
    return list(reader)


def test_the_response_is_a_csv_attachment(admin_client):
    response = admin_client.get(EXPORT_URL)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="audit-log-' in disposition
    assert disposition.endswith('.csv"')
    assert response["Cache-Control"] == "no-store"


def test_exactly_the_filtered_rows_with_every_column(admin_client, audit_editor):
    wanted = event(
        Action.EDIT_SUCCEEDED,
        at=at(2, 9, 30),
        actor=audit_editor,
        ip_address="192.0.2.44",
        datastore_id=DATASTORE,
        image_set_id=IMAGE_SET,
        version_from=3,
        version_to=4,
        reason="Fix the typo",
        outcome="UPDATED",
        forced=True,
    )
    older = event(Action.EDIT_SUCCEEDED, at=at(1), datastore_id=DATASTORE)
    event(Action.EDIT_SUCCEEDED, at=at(2), datastore_id=OTHER_DATASTORE)
    event(Action.EDIT_QUEUED, at=at(2), datastore_id=DATASTORE)
    event(Action.EDIT_SUCCEEDED, at=at(9), datastore_id=DATASTORE)  # after the range

    lines = exported(
        admin_client.get(
            EXPORT_URL,
            {
                "datastore_id": DATASTORE,
                "action": Action.EDIT_SUCCEEDED,
                "start": "2026-03-01",
                "end": "2026-03-05",
            },
        )
    )

    assert len(lines) == 2
    first, second = lines
    assert first == {
        "time_utc": "2026-03-02T09:30:00+00:00",
        "user": "audit-editor",
        "action": "edit.succeeded",
        "action_label": "Edit succeeded",
        "address": "192.0.2.44",
        "datastore_id": DATASTORE,
        "image_set_id": IMAGE_SET,
        "edit_id": "",
        "version_from": "3",
        "version_to": "4",
        "reason": "Fix the typo",
        "outcome": "UPDATED",
        "forced": "yes",
        "subject": "",
    }
    assert second["time_utc"] == older.at.isoformat()
    assert second["forced"] == "no"
    assert wanted.pk  # made


def test_the_export_matches_the_page(admin_client):
    for day in range(1, 8):
        event(at=at(day), datastore_id=DATASTORE, reason=f"day {day}")
    query = {"datastore_id": DATASTORE, "start": "2026-03-03", "end": "2026-03-05"}
    lines = exported(admin_client.get(EXPORT_URL, query))
    assert [line["reason"] for line in lines] == ["day 5", "day 4", "day 3"]


def test_without_filters_every_record_is_exported(admin_client):
    for _ in range(3):
        event()
    lines = exported(admin_client.get(EXPORT_URL))
    assert len(lines) == AuditEvent.objects.count()


def test_failed_sign_ins_show_the_name_tried_and_role_changes_their_subject(
    admin_client, audit_viewer
):
    event(Action.SIGN_IN_FAILED, username="mallory")
    event(Action.ROLES_CHANGED, subject=audit_viewer, outcome="added to editor")
    failed = exported(admin_client.get(EXPORT_URL, {"action": Action.SIGN_IN_FAILED}))
    assert [line["user"] for line in failed] == ["mallory"]
    roles = exported(
        admin_client.get(
            EXPORT_URL, {"action": Action.ROLES_CHANGED, "user": "audit-viewer"}
        )
    )
    assert {line["subject"] for line in roles} == {"audit-viewer"}
    assert "added to editor" in {line["outcome"] for line in roles}


@pytest.mark.parametrize(
    "dangerous",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_formula_injection_is_neutralised(admin_client, dangerous):
    event(datastore_id=DATASTORE, reason=dangerous, outcome=dangerous)
    event(Action.SIGN_IN_FAILED, username=dangerous[:150])
    lines = exported(admin_client.get(EXPORT_URL, {"datastore_id": DATASTORE}))
    assert lines[0]["reason"] == "'" + dangerous
    assert lines[0]["outcome"] == "'" + dangerous
    failed = exported(admin_client.get(EXPORT_URL, {"action": Action.SIGN_IN_FAILED}))
    assert failed[0]["user"] == "'" + dangerous


def test_safe_cell_leaves_ordinary_values_alone():
    assert safe_cell("Fix the typo") == "Fix the typo"
    assert safe_cell(None) == ""
    assert safe_cell(4) == "4"
    assert safe_cell("a=b") == "a=b"
    assert safe_cell("=1") == "'=1"

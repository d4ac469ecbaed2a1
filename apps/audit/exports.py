"""The audit log as CSV: one row per record, UTC ISO timestamps, safe to open in a spreadsheet."""

import csv
import datetime
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from apps.audit.models import AuditEvent

COLUMNS = (
    "time_utc",
    "user",
    "action",
    "action_label",
    "address",
    "datastore_id",
    "image_set_id",
    "edit_id",
    "version_from",
    "version_to",
    "reason",
    "outcome",
    "forced",
    "subject",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The value as text, with a leading quote if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def event_user(event: AuditEvent) -> str:
    """Who acted; for a record without an actor (a failed sign-in), the name given."""
    return event.actor.get_username() if event.actor else event.username


def event_row(event: AuditEvent) -> list[str]:
    return [
        safe_cell(value)
        for value in (
            event.at.astimezone(datetime.UTC).isoformat(),
            event_user(event),
            event.action,
            event.get_action_display(),
            event.ip_address,
            event.datastore_id,
            event.image_set_id,
            event.edit_id,
            event.version_from,
            event.version_to,
            event.reason,
            event.outcome,
            "yes" if event.forced else "no",
            event.subject.get_username() if event.subject else "",
        )
    ]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer to stream through."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The header, then one CSV line per record."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in events:
        yield writer.writerow(event_row(event))


def csv_response(events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    """The records streamed as a CSV download named after the time of export."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        csv_lines(events.iterator(chunk_size=500)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response

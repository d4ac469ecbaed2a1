"""Search criteria for SearchImageSets, built and validated before HealthImaging is called.

The console's property filter (one property, a value or a date range, a sort) becomes the
`searchCriteria` document the service accepts: an identifier EQUAL, a date BETWEEN, or an
identifier EQUAL plus an updated-at BETWEEN (the documented shapes). Problems are reported per
form field, in words for the person who typed them.
"""

import datetime
import re
from dataclasses import dataclass, field

MAX_VALUE_LENGTH = 512  # the model's limit for every identifier
_UID = re.compile(r"[0-9]+(\.[0-9]+)+")

# Open ends of a range are filled with fixed far bounds, so the criteria of every page of
# one search are identical (the service binds nextToken to them).
_EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_LATEST = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)
_EARLIEST_STUDY_DATE = datetime.date(1900, 1, 1)
_LATEST_STUDY_DATE = datetime.date(9999, 12, 31)
_END_OF_DAY = datetime.time(23, 59, 59, 999999)
# The years a searched date may fall in: HealthImaging wants a four-digit study date year, and
# its timestamps end in the year 5138. Every date of an image set in use is far inside.
SEARCH_YEARS = (1000, 4999)


@dataclass(frozen=True)
class Property:
    key: str
    label: str
    attribute: str
    kind: str  # "identifier", "uid", "timestamp" or "study"

    @property
    def is_date(self) -> bool:
        return self.kind in ("timestamp", "study")


PROPERTIES = {
    p.key: p
    for p in (
        Property("patient_id", "Patient ID", "DICOMPatientId", "identifier"),
        Property(
            "accession_number", "Accession number", "DICOMAccessionNumber", "identifier"
        ),
        Property("study_id", "Study ID", "DICOMStudyId", "identifier"),
        Property(
            "study_instance_uid", "Study instance UID", "DICOMStudyInstanceUID", "uid"
        ),
        Property(
            "series_instance_uid",
            "Series instance UID",
            "DICOMSeriesInstanceUID",
            "uid",
        ),
        Property("created_at", "Created at", "createdAt", "timestamp"),
        Property("updated_at", "Updated at", "updatedAt", "timestamp"),
        Property(
            "study_date_time", "Study date and time", "DICOMStudyDateAndTime", "study"
        ),
    )
}
SORT_FIELDS = {
    "updated_at": ("Updated at", "updatedAt"),
    "created_at": ("Created at", "createdAt"),
    "study_date_time": ("Study date and time", "DICOMStudyDateAndTime"),
}


@dataclass(frozen=True)
class SearchQuery:
    """What the person asked for. Dates and times are wall-clock values in `timezone`."""

    property: str = ""
    value: str = ""
    date_from: datetime.date | None = None
    time_from: datetime.time | None = None
    date_to: datetime.date | None = None
    time_to: datetime.time | None = None
    sort_by: str = "updated_at"
    descending: bool = True


@dataclass
class InvalidSearch(Exception):
    """The query can not be sent; `errors` maps each form field to its messages."""

    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def build_search_criteria(query: SearchQuery, *, timezone: datetime.tzinfo) -> dict:
    """The `searchCriteria` for a query, or InvalidSearch naming every problem."""
    invalid = InvalidSearch()
    filters = []
    chosen = PROPERTIES.get(query.property) if query.property else None
    if query.property and chosen is None:
        invalid.add("property", "Choose one of the listed properties.")
    if chosen is not None and not chosen.is_date:
        value = query.value.strip()
        _check_identifier(chosen, value, invalid)
        filters.append({"operator": "EQUAL", "values": [{chosen.attribute: value}]})
    has_range = query.date_from is not None or query.date_to is not None
    if chosen is not None and chosen.is_date and not has_range:
        invalid.add(
            "date_from", f"Enter a From or To date to search by {chosen.label}."
        )
    first, last = SEARCH_YEARS
    for name in ("date_from", "date_to"):
        date = getattr(query, name)
        if date is not None and not first <= date.year <= last:
            invalid.add(name, f"Enter a date from {first}-01-01 to {last}-12-31.")
    if _start(query) > _end(query):
        invalid.add("date_from", "From must be on or before To.")
    if has_range:
        # With an identifier, the range narrows by update time (the documented pairing).
        range_property = (
            chosen
            if chosen is not None and chosen.is_date
            else PROPERTIES["updated_at"]
        )
        filters.append(_between(range_property, query, timezone))
    if query.sort_by not in SORT_FIELDS:
        invalid.add("sort_by", "Choose one of the listed sort fields.")
    if invalid.errors:
        raise invalid
    criteria: dict = {
        "sort": {
            "sortField": SORT_FIELDS[query.sort_by][1],
            "sortOrder": "DESC" if query.descending else "ASC",
        }
    }
    if filters:
        criteria["filters"] = filters
    return criteria


def _check_identifier(chosen: Property, value: str, invalid: InvalidSearch) -> None:
    if not value:
        invalid.add("value", f"Enter the {chosen.label} to search for.")
        return
    if len(value) > MAX_VALUE_LENGTH:
        invalid.add(
            "value", f"{chosen.label} can be at most {MAX_VALUE_LENGTH} characters."
        )
    if chosen.kind == "uid" and not _UID.fullmatch(value):
        invalid.add(
            "value",
            f"A {chosen.label} is digits and periods only, with at least one period and no "
            "period at the start, at the end or next to another; no letters or spaces.",
        )


def _start(query: SearchQuery) -> tuple[datetime.date, datetime.time]:
    return (query.date_from or datetime.date.min, query.time_from or datetime.time.min)


def _end(query: SearchQuery) -> tuple[datetime.date, datetime.time]:
    return (query.date_to or datetime.date.max, query.time_to or _END_OF_DAY)


def _between(chosen: Property, query: SearchQuery, timezone: datetime.tzinfo) -> dict:
    """Both bounds inclusive; a To date without a time means the whole of that day."""
    if chosen.kind == "study":
        lower = _study_instant(query.date_from or _EARLIEST_STUDY_DATE, query.time_from)
        upper = _study_instant(
            query.date_to or _LATEST_STUDY_DATE, query.time_to or _END_OF_DAY
        )
        values = [{chosen.attribute: lower}, {chosen.attribute: upper}]
    else:
        lower_instant = (
            _instant(query.date_from, query.time_from, timezone)
            if query.date_from
            else _EARLIEST
        )
        upper_instant = (
            _instant(query.date_to, query.time_to or _END_OF_DAY, timezone)
            if query.date_to
            else _LATEST
        )
        values = [{chosen.attribute: lower_instant}, {chosen.attribute: upper_instant}]
    return {"operator": "BETWEEN", "values": values}


def _instant(
    date: datetime.date, time: datetime.time | None, timezone: datetime.tzinfo
) -> datetime.datetime:
    local = datetime.datetime.combine(date, time or datetime.time.min, tzinfo=timezone)
    return local.astimezone(datetime.UTC)


def _study_instant(date: datetime.date, time: datetime.time | None) -> dict:
    # Study dates and times are the modality's wall clock: no time zone applies.
    moment = {"DICOMStudyDate": date.strftime("%Y%m%d")}
    if time is not None:
        moment["DICOMStudyTime"] = time.strftime("%H%M%S") + (
            f".{time.microsecond:06d}" if time.microsecond else ""
        )
    return moment

"""SearchImageSets semantics: which criteria are allowed and the SQL that answers them.

Binding rules (contract, "Decisions" 3): identifiers take EQUAL with one exact, case-sensitive
value; dates take BETWEEN with two inclusive bounds; at most one identifier EQUAL plus one date
BETWEEN, plus isPrimary. Results are ordered by the sort field, ties broken by imageSetId, and
paged by keyset so that a page never repeats or skips an image set. Image sets without a study
date sort last in either order.
"""

from dataclasses import dataclass, field
from typing import Any

from apps.emulator.documents import parse_study_instant
from apps.emulator.errors import ValidationException

IDENTIFIER_COLUMNS = {
    "DICOMPatientId": "patient_id",
    "DICOMAccessionNumber": "accession_number",
    "DICOMStudyId": "study_id",
    "DICOMStudyInstanceUID": "study_uid",
    "DICOMSeriesInstanceUID": "series_uid",
}
DATE_COLUMNS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "DICOMStudyDateAndTime": "study_key",
}
SORT_COLUMNS = DATE_COLUMNS


@dataclass
class SearchPlan:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    sort_column: str = "updated_at"
    descending: bool = True


def plan_search(criteria: dict) -> SearchPlan:
    plan = SearchPlan()
    kinds_seen: set[str] = set()
    for search_filter in criteria.get("filters", []):
        operator = search_filter["operator"]
        values = search_filter["values"]
        attribute = next(iter(values[0]))
        if any(next(iter(value)) != attribute for value in values):
            raise ValidationException(
                "All values of a filter must name the same attribute"
            )
        kind = _kind(attribute)
        if kind in kinds_seen:
            raise ValidationException(
                "Unsupported filter combination: use at most one identifier filter with EQUAL, "
                "one date filter with BETWEEN and one isPrimary filter"
            )
        kinds_seen.add(kind)
        if kind == "date":
            _plan_date(plan, attribute, operator, values)
        else:
            if operator != "EQUAL" or len(values) != 1:
                raise ValidationException(
                    f"{attribute} supports only the EQUAL operator with one value"
                )
            column = IDENTIFIER_COLUMNS.get(attribute, "is_primary")
            plan.where.append(f"{column} = ?")
            value = values[0][attribute]
            plan.params.append(int(value) if attribute == "isPrimary" else value)
    sort = criteria.get("sort")
    if sort:
        plan.sort_column = SORT_COLUMNS[sort["sortField"]]
        plan.descending = sort["sortOrder"] == "DESC"
    return plan


def _kind(attribute: str) -> str:
    if attribute in IDENTIFIER_COLUMNS:
        return "identifier"
    if attribute in DATE_COLUMNS:
        return "date"
    return "isPrimary"


def _plan_date(
    plan: SearchPlan, attribute: str, operator: str, values: list[dict]
) -> None:
    if operator != "BETWEEN" or len(values) != 2:
        raise ValidationException(
            f"{attribute} supports only the BETWEEN operator with two values (lowerBound, upperBound)"
        )
    if attribute == "DICOMStudyDateAndTime":
        bounds = [_study_bound(value[attribute]) for value in values]
    else:
        bounds = [value[attribute] for value in values]
    column = DATE_COLUMNS[attribute]
    plan.where.append(f"{column} BETWEEN ? AND ?")
    plan.params.extend(bounds)


def _study_bound(value: dict) -> str:
    date = value["DICOMStudyDate"]
    time = value.get("DICOMStudyTime")
    key = parse_study_instant(date, time or None)
    if key is None:
        raise ValidationException(
            "DICOMStudyDate must be a date in YYYYMMDD format and DICOMStudyTime a time in "
            "HHMMSS.FFFFFF format"
        )
    return key


@dataclass(frozen=True)
class Segment:
    """One index-ordered slice of the results: the rows with a sort value, or those without."""

    where: list[str]
    params: list[Any]
    order: str


def result_segments(plan: SearchPlan, after: list | None) -> list[Segment]:
    """The slices to read, in order, to continue a result list after the last item seen.

    Image sets without a study date sort last in either order; reading them as a second
    slice keeps both slices on an index, where a `col IS NULL` sort key would force a scan.
    """
    column = plan.sort_column
    direction = "DESC" if plan.descending else "ASC"
    comparison = "<" if plan.descending else ">"
    nullable = column == "study_key"
    segments = []
    if after is None or after[0] is not None:
        where = [f"{column} IS NOT NULL"] if nullable else []
        params: list[Any] = []
        if after is not None:
            where.append(f"({column}, id) {comparison} (?, ?)")
            params = list(after)
        segments.append(Segment(where, params, f"{column} {direction}, id {direction}"))
    if nullable:
        where = [f"{column} IS NULL"]
        params = []
        if after is not None and after[0] is None:
            where.append(f"id {comparison} ?")
            params = [after[1]]
        segments.append(Segment(where, params, f"id {direction}"))
    return segments

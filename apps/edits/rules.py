"""HealthImaging's rules for metadata updates, checked before an edit is queued.

From the contract (4.3, "DICOM-level rules"): some attributes can never be changed, some
only with `force`; values must suit the attribute's value representation (VR). Checking here
turns what would be an `UPDATE_FAILED` version minutes later into a message beside the field.
"""

import datetime
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from apps.edits.changes import AttributeChange, level_element

NEVER_UPDATABLE = frozenset(
    {
        "SchemaVersion",
        "DatastoreID",
        "ImageSetID",
        "PixelData",
        "Checksum",
        "Width",
        "Height",
        "MinPixelValue",
        "MaxPixelValue",
        "FrameSizeInBytes",
    }
)
FORCE_REQUIRED = frozenset(
    {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyID"}
)
HEX_TAG = re.compile(r"[0-9A-F]{8}")
NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
# Free text: always one value, so a backslash in it is text, not a value delimiter.
SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_INTEGER_RANGES = {
    "US": (0, 2**16 - 1),
    "SS": (-(2**15), 2**15 - 1),
    "UL": (0, 2**32 - 1),
    "SL": (-(2**31), 2**31 - 1),
    "UV": (0, 2**64 - 1),
    "SV": (-(2**63), 2**63 - 1),
    "IS": (-(2**31), 2**31 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38
VALID_VRS = frozenset(
    [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    ]
)
_MAX_LENGTH = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "SH": 16,
    "ST": 1024,
    "TM": 14,
    "UI": 64,
}
# DICOM's digits and padding are ASCII: Python's \d and \s would also take other scripts'
# digits and spaces, which HealthImaging refuses.
_CHECKS = {
    "AS": re.compile(r"[0-9]{3}[DWMY]"),
    "CS": re.compile(r"[A-Z0-9 _]*"),
    "DS": re.compile(r" *[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)? *"),
    "IS": re.compile(r" *[+-]?[0-9]+ *"),
    "UI": re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*"),
}
_INTEGER = re.compile(r" *[+-]?[0-9]+ *")
_DATE = re.compile(r"[0-9]{8}")
# HH, HHMM, HHMMSS, HHMMSS.FFFFFF: a fraction only after the seconds (PS3.5 6.2).
_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(\.[0-9]{1,6})?)?)?")


@dataclass
class Verdict:
    """What the rules say about one change: refusals, and reasons it needs `force`."""

    errors: list[str] = field(default_factory=list)
    needs_force: list[str] = field(default_factory=list)


def attribute_vr(attribute: str, document: dict | None = None) -> str | None:
    """The attribute's VR: from the DICOM dictionary, or for private tags from the document."""
    if HEX_TAG.fullmatch(attribute):
        return None
    try:
        tag = tag_for_keyword(attribute)
        return dictionary_VR(tag) if tag is not None else None
    except KeyError:
        return None


def is_private_tag(attribute: str) -> bool:
    return bool(HEX_TAG.fullmatch(attribute)) and int(attribute[3], 16) % 2 == 1


def typed_value(text: str, vr: str | None) -> Any:
    """The JSON value for what was typed: None when blank, a list when multi-valued
    (DICOM's backslash delimiter), numbers for binary numeric VRs, text otherwise."""
    if text == "":
        return None
    if "\\" in text and vr not in SINGLE_TEXT_VRS:
        return [typed_value(part, vr) for part in text.split("\\")]
    if vr in NUMERIC_VRS:
        # Only DICOM's own spelling: int() and float() would also take "1_000" and
        # other scripts' digits.
        pattern = _CHECKS["DS"] if vr in {"FL", "FD"} else _INTEGER
        if not pattern.fullmatch(text):
            return text  # reported by value_problem
        number = float(text) if vr in {"FL", "FD"} else int(text)
        # NaN and infinities are not JSON: kept as text, which value_problem reports.
        return number if math.isfinite(number) else text
    return text


def value_text(value: Any) -> str:
    """The inverse of `typed_value`, for prefilling a field."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(value_text(part) for part in value)
    return str(value)


def value_problem(value: Any, vr: str | None) -> str | None:
    """Why a single value does not suit the VR, or None if it does (or the VR is unknown)."""
    if value is None or vr is None:
        return None
    if vr in NUMERIC_VRS:
        return _number_problem(value, vr)
    text = str(value)
    if _has_control_characters(text, vr):
        return (
            "Remove control characters."
            if vr in SINGLE_TEXT_VRS
            else "Remove line breaks and control characters."
        )
    limit = _MAX_LENGTH.get(vr)
    if vr == "PN":
        return _person_name_problem(text)
    if limit and len(text) > limit:
        return f"Use at most {limit} characters (value representation {vr})."
    if vr == "DA":
        return _date_problem(text)
    if vr == "TM":
        return _time_problem(text)
    pattern = _CHECKS.get(vr)
    if pattern and not pattern.fullmatch(text):
        return {
            "AS": "Enter an age such as 045Y, 006M, 003W or 010D.",
            "CS": "Use capital letters, digits, spaces and underscores only.",
            "DS": "Enter a decimal number.",
            "IS": "Enter a whole number.",
            "UI": "Enter a UID: numbers separated by dots, such as 1.2.840.10008.",
        }[vr]
    if vr == "IS":
        return _range_problem(int(text), vr)
    return None


def _has_control_characters(text: str, vr: str) -> bool:
    """Text values hold no control characters (C0, DEL, C1), but for the free text of LT,
    ST and UT: paragraphs, with tabs, line and page breaks (PS3.5 6.2)."""
    allowed = "\t\n\r\f" if vr in SINGLE_TEXT_VRS else ""
    return any(
        unicodedata.category(char) == "Cc" and char not in allowed for char in text
    )


def _number_problem(value: Any, vr: str) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"Enter a number (value representation {vr})."
    if vr == "FL" and abs(value) > _FLOAT32_MAX:
        return "Enter a number the size of a 32-bit float (value representation FL)."
    if vr in _INTEGER_RANGES:
        if not isinstance(value, int):
            return f"Enter a whole number (value representation {vr})."
        return _range_problem(value, vr)
    return None


def _range_problem(number: int, vr: str) -> str | None:
    low, high = _INTEGER_RANGES[vr]
    if low <= number <= high:
        return None
    return f"Enter a whole number from {low} to {high} (value representation {vr})."


def _person_name_problem(text: str) -> str | None:
    groups = text.split("=")
    if len(groups) > 3:
        return "A person name has at most three representations separated by '='."
    for group in groups:
        if len(group) > 64:
            return "Each name representation may be at most 64 characters."
        if len(group.split("^")) > 5:
            return "A person name has at most five components separated by '^'."
    return None


def _date_problem(text: str) -> str | None:
    if not _DATE.fullmatch(text):  # strptime would take 2024013 for a date
        return "Enter a date as YYYYMMDD, such as 19700131."
    try:
        datetime.datetime.strptime(text, "%Y%m%d")  # noqa: DTZ007 - a calendar date
    except ValueError:
        return "Enter a date as YYYYMMDD, such as 19700131."
    return None


def _time_problem(text: str) -> str | None:
    match = _TIME.fullmatch(text)
    if not match:
        return "Enter a time as HHMMSS, such as 143000 or 143000.25."
    hours, minutes, seconds = (int(part) if part else 0 for part in match.groups()[:3])
    if hours > 23 or minutes > 59 or seconds > 60:
        return "Enter a time that exists: hours 00-23, minutes 00-59, seconds 00-60."
    return None


def judge(change: AttributeChange, document: dict) -> Verdict:
    """Check one change against the contract's rules and the current metadata document."""
    verdict = Verdict()
    attribute = change.attribute
    if attribute in NEVER_UPDATABLE:
        verdict.errors.append(f"{attribute} can never be changed.")
        return verdict
    element = level_element(document, change)
    if element is None:
        verdict.errors.append(f"{change.place} is not in this image set.")
        return verdict
    elsewhere = _level_holding(document, attribute)
    if elsewhere and elsewhere != change.level and attribute not in element:
        # HealthImaging refuses cross-module updates only after accepting them.
        verdict.errors.append(
            f"{attribute} is a {elsewhere} level attribute in this image set."
        )
        return verdict
    if change.remove:
        if attribute not in element:
            verdict.errors.append(f"{attribute} is not present at {change.place}.")
    elif change.new == change.old and attribute in element:
        verdict.errors.append(f"{attribute} already has this value.")
    if is_private_tag(attribute):
        if change.level != "Instance":
            verdict.errors.append(
                "Private tags can only be changed at Instance level in HealthImaging."
            )
        else:
            verdict.needs_force.append(f"{attribute} is a private tag.")
        vr = change.vr or _document_vr(document, change)
        if not change.remove and not vr:
            verdict.errors.append(f"Give the value representation of {attribute}.")
    elif HEX_TAG.fullmatch(attribute) or attribute_vr(attribute) is None:
        verdict.needs_force.append(f"{attribute} is not a standard DICOM attribute.")
        vr = None
    else:
        vr = attribute_vr(attribute)
    if attribute in FORCE_REQUIRED:
        verdict.needs_force.append(f"{attribute} identifies the data.")
    if vr == "SQ":
        verdict.needs_force.append(f"{attribute} is a sequence.")
    if not change.remove:
        values = change.new if isinstance(change.new, list) else [change.new]
        if isinstance(change.new, list):
            verdict.needs_force.append(f"{attribute} gets several values.")
        problems = {value_problem(value, vr) for value in values} - {None}
        verdict.needs_force.extend(sorted(problems))
    return verdict


def _level_holding(document: dict, attribute: str) -> str | None:
    """The level at which the document holds the attribute, if it holds it anywhere."""
    study = document.get("Study", {})
    series = study.get("Series", {}).values()
    places = (
        ("Patient", [document.get("Patient", {}).get("DICOM", {})]),
        ("Study", [study.get("DICOM", {})]),
        ("Series", [entry.get("DICOM", {}) for entry in series]),
        (
            "Instance",
            [
                instance.get("DICOM", {})
                for entry in series
                for instance in entry.get("Instances", {}).values()
            ],
        ),
    )
    for level, elements in places:
        if any(attribute in element for element in elements):
            return level
    return None


def _document_vr(document: dict, change: AttributeChange) -> str | None:
    if change.level != "Instance":
        return None
    instance = (
        document.get("Study", {})
        .get("Series", {})
        .get(change.series_uid, {})
        .get("Instances", {})
        .get(change.instance_uid, {})
    )
    return instance.get("DICOMVRs", {}).get(change.attribute)

"""Template filters that show DICOM values and timestamps the way people read them.

Well-formed values are reformatted (PN `DOE^JANE^Q` as `DOE, JANE Q`, DA `19991122` as
`1999-11-22`, TM `140728.123` as `14:07:28`); anything else is shown exactly as given, and a
missing value as an em dash that screen readers announce as "not recorded". Never raises.
"""

import datetime
import html
import re

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

NOT_RECORDED = (
    '<span aria-hidden="true">—</span><span class="visually-hidden">not recorded</span>'
)

_DA = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TM = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,6})?)?)?")


@register.simple_tag
def not_recorded() -> SafeString:
    return mark_safe(NOT_RECORDED)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@register.filter
def person_name(value: object) -> str:
    """DICOM PN (family^given^middle^prefix^suffix) as `FAMILY, PREFIX GIVEN MIDDLE SUFFIX`."""
    if isinstance(value, dict):  # DICOM JSON form: {"Alphabetic": "DOE^JANE"}
        value = value.get("Alphabetic") or value.get("Ideographic") or ""
    if _missing(value):
        return not_recorded()
    if not isinstance(value, str):
        return str(value)
    # Component groups (alphabetic=ideographic=phonetic): the first that is not empty.
    group = next((g for g in value.split("=") if g.strip("^ ")), "")
    if not group:
        return value
    components = [part.strip() for part in group.split("^")]
    family = components[0]
    given, middle, prefix, suffix = (components[1:] + [""] * 4)[:4]
    rest = " ".join(part for part in (prefix, given, middle, suffix) if part)
    if family and rest:
        return f"{family}, {rest}"
    return family or rest


@register.filter
def dicom_date(value: object) -> str:
    """DICOM DA `YYYYMMDD` as `YYYY-MM-DD` when it is a real date."""
    if _missing(value):
        return not_recorded()
    text = str(value).strip()
    match = _DA.fullmatch(text)
    if match is None:
        return str(value)
    try:
        return datetime.date(*(int(part) for part in match.groups())).isoformat()
    except ValueError:
        return str(value)


@register.filter
def dicom_time(value: object) -> str:
    """DICOM TM `HH[MM[SS[.FFFFFF]]]` as `HH:MM[:SS]`, fractions dropped."""
    if _missing(value):
        return not_recorded()
    text = str(value).strip()
    match = _TM.fullmatch(text)
    if match is None:
        return str(value)
    hour, minute, second = match.groups()
    if int(hour) > 23 or int(minute or 0) > 59 or int(second or 0) > 60:
        return str(value)
    return ":".join(part for part in (hour, minute or "00", second) if part)


@register.filter
def dicom_date_time(date: object, time: object) -> str:
    """A DA and an optional TM together: `1999-11-22 14:07:28`."""
    if _missing(date):
        return not_recorded()
    shown = dicom_date(date)
    if _missing(time):
        return shown
    return f"{shown} {dicom_time(time)}"


@register.filter
def timestamp(value: object) -> str:
    """An aware datetime in the current time zone, inside a <time> element."""
    if not isinstance(value, datetime.datetime):
        return not_recorded() if _missing(value) else str(value)
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    # Digits, separators and a zone abbreviation; escaped all the same.
    return mark_safe(
        f'<time datetime="{html.escape(local.isoformat(timespec="seconds"))}">'
        f"{html.escape(local.strftime('%Y-%m-%d %H:%M:%S %Z').strip())}</time>"
    )


@register.filter
def or_missing(value: object) -> object:
    """The value itself, or the "not recorded" dash when it is empty."""
    return not_recorded() if _missing(value) else value


@register.filter
def file_size(value: object) -> str:
    if not isinstance(value, int) or value < 0:
        return not_recorded() if value is None else str(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)

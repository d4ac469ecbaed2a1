"""What the emulator derives from an image set's metadata document.

The search summary (`DICOMTags`), the indexed search keys, and DICOM date and time parsing
shared by search criteria and stored documents.
"""

import datetime
import re
from typing import Any

_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
# DICOM TM: HH, HHMM, HHMMSS or HHMMSS.F{1,6}; missing parts mean zero.
_TIME = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?", re.ASCII)

_STUDY_TAGS = {
    "DICOMStudyInstanceUID": "StudyInstanceUID",
    "DICOMStudyId": "StudyID",
    "DICOMStudyDescription": "StudyDescription",
    "DICOMAccessionNumber": "AccessionNumber",
    "DICOMStudyDate": "StudyDate",
    "DICOMStudyTime": "StudyTime",
}
_PATIENT_TAGS = {
    "DICOMPatientId": "PatientID",
    "DICOMPatientName": "PatientName",
    "DICOMPatientBirthDate": "PatientBirthDate",
    "DICOMPatientSex": "PatientSex",
}
_SERIES_TAGS = {
    "DICOMSeriesInstanceUID": "SeriesInstanceUID",
    "DICOMSeriesModality": "Modality",
    "DICOMSeriesBodyPart": "BodyPartExamined",
}
# The model caps summary strings; a longer stored value is left out rather than sent broken.
_TAG_MAX_LENGTH = {
    "DICOMPatientBirthDate": 36,
    "DICOMPatientSex": 16,
    "DICOMStudyDate": 36,
    "DICOMStudyTime": 56,
    "DICOMSeriesModality": 32,
    "DICOMSeriesBodyPart": 128,
}
_UID = re.compile(r"[0-9.]+")


def parse_study_instant(date: str, time: str | None) -> str | None:
    """A sortable `YYYYMMDDHHMMSS.ffffff` key, or None when the date or time is not valid DICOM."""
    date_match = _DATE.fullmatch(date)
    if not date_match:
        return None
    try:
        datetime.date(*(int(part) for part in date_match.groups()))
    except ValueError:
        return None
    hours = minutes = seconds = 0
    fraction = "0"
    if time:
        time_match = _TIME.fullmatch(time)
        if not time_match:
            return None
        hours, minutes, seconds = (int(part or 0) for part in time_match.groups()[:3])
        fraction = time_match.group(4) or "0"
        if hours > 23 or minutes > 59 or seconds > 60:
            return None
    return f"{date}{hours:02d}{minutes:02d}{seconds:02d}.{fraction:0<6}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = "\\".join(str(item) for item in value)
    if isinstance(value, dict):
        return None
    return str(value)


def dicom_tags(metadata: dict) -> dict[str, Any]:
    """The `DICOMTags` of a search summary; absent or empty attributes are left out, never null."""
    patient = metadata.get("Patient", {}).get("DICOM", {})
    study = metadata.get("Study", {}).get("DICOM", {})
    series = metadata.get("Study", {}).get("Series", {})
    tags: dict[str, Any] = {}
    for tag, keyword in _PATIENT_TAGS.items():
        tags[tag] = _text(patient.get(keyword))
    for tag, keyword in _STUDY_TAGS.items():
        tags[tag] = _text(study.get(keyword))
    if series:
        first = next(iter(series.values())).get("DICOM", {})
        for tag, keyword in _SERIES_TAGS.items():
            tags[tag] = _text(first.get(keyword))
        # An int32 in the summary; stored as an IS string or a number.
        tags["DICOMSeriesNumber"] = _integer(first.get("SeriesNumber"))
    tags["DICOMNumberOfStudyRelatedSeries"] = len(series)
    tags["DICOMNumberOfStudyRelatedInstances"] = sum(
        len(item.get("Instances", {})) for item in series.values()
    )
    for tag in ("DICOMStudyInstanceUID", "DICOMSeriesInstanceUID"):
        if tags.get(tag) is not None and not _UID.fullmatch(tags[tag]):
            tags[tag] = None
    return {
        tag: value
        for tag, value in tags.items()
        if value not in (None, "")
        and not (isinstance(value, str) and len(value) > _TAG_MAX_LENGTH.get(tag, 512))
    }


def _integer(value: Any) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if -(2**31) <= number < 2**31 else None


def search_keys(metadata: dict) -> dict[str, Any]:
    """The indexed columns of an image set: identifiers searched with EQUAL, and the study key."""
    study = metadata.get("Study", {}).get("DICOM", {})
    patient = metadata.get("Patient", {}).get("DICOM", {})
    series = metadata.get("Study", {}).get("Series", {})
    study_date = study.get("StudyDate")
    study_time = study.get("StudyTime")
    return {
        "patient_id": _text(patient.get("PatientID")),
        "accession_number": _text(study.get("AccessionNumber")),
        "study_id": _text(study.get("StudyID")),
        "study_uid": _text(study.get("StudyInstanceUID")),
        "series_uid": next(iter(series), None),
        "study_key": (
            parse_study_instant(study_date, _text(study_time))
            if isinstance(study_date, str)
            else None
        ),
    }

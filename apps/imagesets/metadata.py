"""An image set's metadata document as a tree people can read: Patient, Study, Series, Instances.

Each level keeps its DICOM attributes in document order as keyword/value rows; multi-values are
joined with DICOM's backslash, sequences become nested rows, private tags carry their VR.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

EMPTY = "(empty)"
MULTI_VALUE_SEPARATOR = " \\ "
_PRIVATE_OR_NUMERIC_TAG = re.compile(r"[0-9A-Fa-f]{8}")


@dataclass(frozen=True)
class Attribute:
    keyword: str
    value: str = ""
    vr: str | None = None
    # A sequence: one tuple of attributes per item.
    items: tuple[tuple["Attribute", ...], ...] = ()

    @property
    def is_sequence(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class Frames:
    """A summary of an instance's image frames."""

    count: int
    sizes: tuple[str, ...]  # distinct full-resolution sizes, e.g. "512 × 512"
    total_bytes: int | None


@dataclass(frozen=True)
class Level:
    kind: str  # "patient", "study", "series" or "instance"
    title: str
    uid: str | None
    attributes: tuple[Attribute, ...]
    open: bool
    frames: Frames | None = None
    children: tuple["Level", ...] = field(default=())


@dataclass(frozen=True)
class MetadataTree:
    patient: Level
    study: Level  # its children are the series, theirs the instances
    schema_version: str | None
    patient_name: str | None
    study_description: str | None

    @property
    def series(self) -> tuple[Level, ...]:
        return self.study.children

    @property
    def instance_count(self) -> int:
        return sum(len(series.children) for series in self.series)


def metadata_tree(document: dict) -> MetadataTree:
    patient = mapping(document.get("Patient"))
    study = mapping(document.get("Study"))
    study_dicom = mapping(study.get("DICOM"))
    return MetadataTree(
        patient=Level(
            kind="patient",
            title="Patient",
            uid=None,
            attributes=_attributes(patient),
            open=True,
        ),
        study=Level(
            kind="study",
            title="Study",
            uid=text(study_dicom.get("StudyInstanceUID")),
            attributes=_attributes(study),
            open=True,
            children=tuple(
                _series(str(uid), mapping(level))
                for uid, level in mapping(study.get("Series")).items()
            ),
        ),
        schema_version=text(document.get("SchemaVersion")),
        patient_name=text(mapping(patient.get("DICOM")).get("PatientName")),
        study_description=text(study_dicom.get("StudyDescription")),
    )


def series_title(level: dict) -> str:
    """A series as people name it: "MR · Series 3 · SAG T2"."""
    dicom = mapping(level.get("DICOM"))
    number = dicom.get("SeriesNumber")
    parts = [
        text(dicom.get("Modality")),
        f"Series {number}" if number not in (None, "") else None,
        text(dicom.get("SeriesDescription")),
    ]
    return " · ".join(part for part in parts if part) or "Series"


def instance_title(level: dict) -> str:
    number = mapping(level.get("DICOM")).get("InstanceNumber")
    return f"Instance {number}" if number not in (None, "") else "Instance"


def attribute_label(key: str) -> str:
    """The keyword, or a private or numeric tag written as (gggg,eeee)."""
    if _PRIVATE_OR_NUMERIC_TAG.fullmatch(key):
        return f"({key[:4]},{key[4:]})".upper()
    return key


def _series(uid: str, level: dict) -> Level:
    instances = mapping(level.get("Instances"))
    return Level(
        kind="series",
        title=series_title(level),
        uid=uid,
        attributes=_attributes(level),
        open=True,
        children=tuple(
            _instance(str(sop_uid), mapping(instance))
            for sop_uid, instance in instances.items()
        ),
    )


def _instance(uid: str, level: dict) -> Level:
    attributes = _attributes(level)
    syntax = level.get("StoredTransferSyntaxUID")
    if syntax is not None:
        attributes += (Attribute("StoredTransferSyntaxUID", _value(syntax)),)
    return Level(
        kind="instance",
        title=instance_title(level),
        uid=uid,
        attributes=attributes,
        open=False,
        frames=_frames(level.get("ImageFrames")),
    )


def _attributes(level: dict) -> tuple[Attribute, ...]:
    return _dicom_attributes(
        mapping(level.get("DICOM")), mapping(level.get("DICOMVRs"))
    )


def _dicom_attributes(dicom: dict, vrs: dict) -> tuple[Attribute, ...]:
    return tuple(_attribute(str(key), value, vrs) for key, value in dicom.items())


def _attribute(key: str, value: object, vrs: dict) -> Attribute:
    vr = text(vrs.get(key))
    key = attribute_label(key)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return Attribute(
            keyword=key,
            vr=vr,
            items=tuple(_dicom_attributes(item, vrs) for item in value),
        )
    return Attribute(keyword=key, value=_value(value), vr=vr)


def _value(value: object) -> str:
    if value is None:
        return EMPTY
    if isinstance(value, list):
        return MULTI_VALUE_SEPARATOR.join(_value(item) for item in value) or EMPTY
    if isinstance(value, dict):
        # A person name in DICOM JSON form, or anything else keyed: shown as key=value pairs.
        return "; ".join(f"{k}={_value(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _frames(frames: object) -> Frames | None:
    if not isinstance(frames, list) or not frames:
        return None
    sizes: list[str] = []
    total = 0
    has_total = False
    for frame in _dicts(frames):
        levels = list(_dicts(frame.get("PixelDataChecksumFromBaseToFullResolution")))
        if levels:
            full = levels[-1]  # base to full resolution: the last is the full size
            size = f"{full.get('Width', '?')} × {full.get('Height', '?')}"
            if size not in sizes:
                sizes.append(size)
        if isinstance(frame.get("FrameSizeInBytes"), int):
            total += frame["FrameSizeInBytes"]
            has_total = True
    return Frames(
        count=len(frames), sizes=tuple(sizes), total_bytes=total if has_total else None
    )


def _dicts(value: object) -> Iterable[dict]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def mapping(value: object) -> dict:
    """The value if it is a JSON object, else an empty one: documents may be malformed."""
    return value if isinstance(value, dict) else {}


def text(value: object) -> str | None:
    return None if value in (None, "") else str(value)

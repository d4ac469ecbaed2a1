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
    patient = _mapping(document.get("Patient"))
    study = _mapping(document.get("Study"))
    study_dicom = _mapping(study.get("DICOM"))
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
            uid=_text(study_dicom.get("StudyInstanceUID")),
            attributes=_attributes(study),
            open=True,
            children=tuple(
                _series(str(uid), _mapping(level))
                for uid, level in _mapping(study.get("Series")).items()
            ),
        ),
        schema_version=_text(document.get("SchemaVersion")),
        patient_name=_text(_mapping(patient.get("DICOM")).get("PatientName")),
        study_description=_text(study_dicom.get("StudyDescription")),
    )


def _series(uid: str, level: dict) -> Level:
    dicom = _mapping(level.get("DICOM"))
    number = dicom.get("SeriesNumber")
    parts = [
        _text(dicom.get("Modality")),
        f"Series {number}" if number not in (None, "") else None,
        _text(dicom.get("SeriesDescription")),
    ]
    instances = _mapping(level.get("Instances"))
    return Level(
        kind="series",
        title=" · ".join(part for part in parts if part) or "Series",
        uid=uid,
        attributes=_attributes(level),
        open=True,
        children=tuple(
            _instance(str(sop_uid), _mapping(instance))
            for sop_uid, instance in instances.items()
        ),
    )


def _instance(uid: str, level: dict) -> Level:
    number = _mapping(level.get("DICOM")).get("InstanceNumber")
    attributes = _attributes(level)
    syntax = level.get("StoredTransferSyntaxUID")
    if syntax is not None:
        attributes += (Attribute("StoredTransferSyntaxUID", _value(syntax)),)
    return Level(
        kind="instance",
        title=f"Instance {number}" if number not in (None, "") else "Instance",
        uid=uid,
        attributes=attributes,
        open=False,
        frames=_frames(level.get("ImageFrames")),
    )


def _attributes(level: dict) -> tuple[Attribute, ...]:
    return _dicom_attributes(
        _mapping(level.get("DICOM")), _mapping(level.get("DICOMVRs"))
    )


def _dicom_attributes(dicom: dict, vrs: dict) -> tuple[Attribute, ...]:
    return tuple(_attribute(str(key), value, vrs) for key, value in dicom.items())


def _attribute(key: str, value: object, vrs: dict) -> Attribute:
    vr = _text(vrs.get(key))
    if _PRIVATE_OR_NUMERIC_TAG.fullmatch(key):
        key = f"({key[:4]},{key[4:]})".upper()
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


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)

"""What changed between two versions of an image set's metadata document, attribute by attribute.

Pure functions on two parsed metadata documents (GetImageSetMetadata), returning typed rows:

- one section per level, in document order: the document itself (SchemaVersion and the like),
  Patient, Study, then each series followed by its instances;
- each section says whether the level is in both versions, or was added or removed as a whole;
- each row is one attribute, `added`, `removed`, `changed` (old and new value) or `unchanged`.

Values are compared exactly, as JSON values: `"1"` is not `1`, `["A", "B"]` is not `"A\\B"`,
and `null` is not an absent attribute. An attribute's value representation (`DICOMVRs`) is part
of the attribute: a different VR is a change. Keys of a level outside `DICOM` (an instance's
`StoredTransferSyntaxUID` and `ImageFrames`) are compared too, as whole values; nothing is
ignored. Series and instances are matched by UID, so a changed UID reads as one removed and
one added.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from apps.imagesets.metadata import (
    attribute_label,
    instance_title,
    mapping,
    series_title,
    text,
)

# Level keys that are not attributes: the attribute maps and the child levels.
_STRUCTURE_KEYS = frozenset({"DICOM", "DICOMVRs", "Series", "Instances"})
_LEVEL_KEYS = frozenset({"Patient", "Study"})


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


class Presence(StrEnum):
    BOTH = "both"
    ADDED = "added"
    REMOVED = "removed"


class LevelKind(StrEnum):
    DOCUMENT = "document"
    PATIENT = "patient"
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


_ABSENT = object()


@dataclass(frozen=True)
class AttributeDiff:
    """One attribute in the two versions; `old`/`new` are None when absent (see `change`)."""

    key: str  # as in the document: a keyword, or a tag such as "00091001"
    change: Change
    old: Any = None
    new: Any = None
    old_vr: str | None = None
    new_vr: str | None = None
    technical: bool = False  # outside the level's DICOM map (e.g. ImageFrames)

    @property
    def label(self) -> str:
        """The keyword, or a private or numeric tag written as (gggg,eeee)."""
        return attribute_label(self.key)

    @property
    def vr(self) -> str | None:
        return self.new_vr or self.old_vr

    @property
    def vr_changed(self) -> bool:
        return self.change == Change.CHANGED and self.old_vr != self.new_vr


@dataclass(frozen=True)
class LevelDiff:
    kind: LevelKind
    title: str
    uid: str | None  # series or SOP instance UID
    presence: Presence
    attributes: tuple[AttributeDiff, ...]
    series_uid: str | None = None  # an instance's series
    # A whole series added or removed: its instances, by UID (not listed attribute by attribute).
    instance_uids: tuple[str, ...] = field(default=())

    @property
    def differences(self) -> tuple[AttributeDiff, ...]:
        return tuple(row for row in self.attributes if row.change != Change.UNCHANGED)

    @property
    def unchanged_count(self) -> int:
        return len(self.attributes) - len(self.differences)

    @property
    def has_differences(self) -> bool:
        return self.presence != Presence.BOTH or bool(self.differences)

    def count(self, change: Change) -> int:
        return sum(1 for row in self.attributes if row.change == change)


@dataclass(frozen=True)
class MetadataDiff:
    levels: tuple[LevelDiff, ...]

    @property
    def differing_levels(self) -> tuple[LevelDiff, ...]:
        return tuple(level for level in self.levels if level.has_differences)

    @property
    def is_empty(self) -> bool:
        return not self.differing_levels

    def _count(self, change: Change) -> int:
        return sum(level.count(change) for level in self.levels)

    @property
    def added(self) -> int:
        return self._count(Change.ADDED)

    @property
    def removed(self) -> int:
        return self._count(Change.REMOVED)

    @property
    def changed(self) -> int:
        return self._count(Change.CHANGED)

    def _levels(self, kind: LevelKind, presence: Presence) -> tuple[LevelDiff, ...]:
        return tuple(
            level
            for level in self.levels
            if level.kind == kind and level.presence == presence
        )

    @property
    def series_added(self) -> tuple[LevelDiff, ...]:
        return self._levels(LevelKind.SERIES, Presence.ADDED)

    @property
    def series_removed(self) -> tuple[LevelDiff, ...]:
        return self._levels(LevelKind.SERIES, Presence.REMOVED)

    @property
    def instances_added(self) -> tuple[LevelDiff, ...]:
        return self._levels(LevelKind.INSTANCE, Presence.ADDED)

    @property
    def instances_removed(self) -> tuple[LevelDiff, ...]:
        return self._levels(LevelKind.INSTANCE, Presence.REMOVED)


def diff_documents(old: dict, new: dict) -> MetadataDiff:
    """Every level of the two documents, old → new, each attribute classified."""
    old, new = mapping(old), mapping(new)
    old_study, new_study = mapping(old.get("Study")), mapping(new.get("Study"))
    levels = [
        LevelDiff(
            kind=LevelKind.DOCUMENT,
            title="Image set document",
            uid=None,
            presence=Presence.BOTH,
            attributes=_compare_keys(
                {k: v for k, v in old.items() if k not in _LEVEL_KEYS},
                {k: v for k, v in new.items() if k not in _LEVEL_KEYS},
                {},
                {},
                technical=True,
            ),
        ),
        _level(
            LevelKind.PATIENT,
            "Patient",
            None,
            mapping(old.get("Patient")),
            mapping(new.get("Patient")),
        ),
        _level(LevelKind.STUDY, "Study", None, old_study, new_study),
    ]
    old_series = mapping(old_study.get("Series"))
    new_series = mapping(new_study.get("Series"))
    for uid in _union(old_series, new_series):
        levels.extend(
            _series(uid, old_series.get(uid, _ABSENT), new_series.get(uid, _ABSENT))
        )
    return MetadataDiff(levels=tuple(levels))


def _series(uid: str, old: object, new: object) -> list[LevelDiff]:
    if old is _ABSENT or new is _ABSENT:
        present = mapping(new if old is _ABSENT else old)
        return [
            _level(
                LevelKind.SERIES,
                series_title(present),
                uid,
                None if old is _ABSENT else old,
                None if new is _ABSENT else new,
                instance_uids=tuple(
                    str(key) for key in mapping(present.get("Instances"))
                ),
            )
        ]
    old, new = mapping(old), mapping(new)
    levels = [_level(LevelKind.SERIES, series_title(new), uid, old, new)]
    old_instances = mapping(old.get("Instances"))
    new_instances = mapping(new.get("Instances"))
    for sop_uid in _union(old_instances, new_instances):
        before = old_instances.get(sop_uid)
        after = new_instances.get(sop_uid)
        levels.append(
            _level(
                LevelKind.INSTANCE,
                instance_title(mapping(after if sop_uid in new_instances else before)),
                sop_uid,
                before if sop_uid in old_instances else None,
                after if sop_uid in new_instances else None,
                series_uid=uid,
            )
        )
    return levels


def _level(
    kind: LevelKind,
    title: str,
    uid: str | None,
    old: object,
    new: object,
    *,
    series_uid: str | None = None,
    instance_uids: tuple[str, ...] = (),
) -> LevelDiff:
    """A level present in `old` and/or `new` (None: not in that version)."""
    presence = (
        Presence.ADDED
        if old is None
        else Presence.REMOVED
        if new is None
        else Presence.BOTH
    )
    old_level, new_level = mapping(old), mapping(new)
    attributes = _compare_keys(
        mapping(old_level.get("DICOM")),
        mapping(new_level.get("DICOM")),
        mapping(old_level.get("DICOMVRs")),
        mapping(new_level.get("DICOMVRs")),
    ) + _compare_keys(
        {k: v for k, v in old_level.items() if k not in _STRUCTURE_KEYS},
        {k: v for k, v in new_level.items() if k not in _STRUCTURE_KEYS},
        {},
        {},
        technical=True,
    )
    return LevelDiff(
        kind=kind,
        title=title,
        uid=uid,
        presence=presence,
        attributes=attributes,
        series_uid=series_uid,
        instance_uids=instance_uids,
    )


def _compare_keys(
    old: dict, new: dict, old_vrs: dict, new_vrs: dict, *, technical: bool = False
) -> tuple[AttributeDiff, ...]:
    rows = []
    for key in _union(old, new):
        before = old.get(key, _ABSENT)
        after = new.get(key, _ABSENT)
        old_vr, new_vr = text(old_vrs.get(key)), text(new_vrs.get(key))
        if before is _ABSENT:
            change = Change.ADDED
        elif after is _ABSENT:
            change = Change.REMOVED
        elif _same(before, after) and old_vr == new_vr:
            change = Change.UNCHANGED
        else:
            change = Change.CHANGED
        rows.append(
            AttributeDiff(
                key=key,
                change=change,
                old=None if before is _ABSENT else before,
                new=None if after is _ABSENT else after,
                old_vr=None if before is _ABSENT else old_vr,
                new_vr=None if after is _ABSENT else new_vr,
                technical=technical,
            )
        )
    return tuple(rows)


def _same(a: object, b: object) -> bool:
    """Equal as JSON values: types count (1 is not "1", and True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _union(old: dict, new: dict) -> list[str]:
    """The keys of both, in the new document's order, then those only in the old one."""
    return list(dict.fromkeys([*new, *old]))

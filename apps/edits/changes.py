"""Attribute changes and the DICOMUpdates documents they become.

A change names one attribute at one place in an image set's metadata document (Patient,
Study, a Series or an Instance), with the value the user saw and the value they want, or a
removal. The same list drives the review table, the `UpdateImageSetMetadata` payload, and the
check that a version carries the edit (how a job recognises its own write).
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

LEVELS = ("Patient", "Study", "Series", "Instance")
SCHEMA_VERSION = "1.1"
# Changing one of these re-keys its entry: the new value is where it lives afterwards.
_KEY_ATTRIBUTES = {"Series": "SeriesInstanceUID", "Instance": "SOPInstanceUID"}


@dataclass(frozen=True)
class AttributeChange:
    level: str
    attribute: str  # a DICOM keyword, or a private tag as 8 hex digits
    old: Any
    new: Any = None
    remove: bool = False
    series_uid: str = ""
    instance_uid: str = ""
    vr: str = ""  # only for a private tag that is added

    @classmethod
    def from_json(cls, data: dict) -> "AttributeChange":
        return cls(**data)

    def as_json(self) -> dict:
        return asdict(self)

    @property
    def place(self) -> str:
        """Where the attribute lives, for people: "Patient", "Series 1.2.3", ..."""
        if self.level == "Series":
            return f"Series {self.series_uid}"
        if self.level == "Instance":
            return f"Instance {self.instance_uid}"
        return self.level


def level_element(document: dict, change: AttributeChange) -> dict | None:
    """The `DICOM` object of the change's level in a metadata document, or None if absent."""
    if change.level in ("Patient", "Study"):
        return document.get(change.level, {}).get("DICOM")
    series_map = document.get("Study", {}).get("Series", {})
    series = series_map.get(change.series_uid)
    if change.level == "Series":
        return None if series is None else series.get("DICOM")
    instance = (series or {}).get("Instances", {}).get(change.instance_uid)
    return None if instance is None else instance.get("DICOM")


def dicom_updates(changes: Iterable[AttributeChange]) -> dict[str, dict]:
    """The DICOMUpdates members for these changes; only the members that have content."""
    updatable: dict = {}
    removable: dict = {}
    for change in changes:
        target = removable if change.remove else updatable
        element = _element(target, change)
        element["DICOM"][change.attribute] = change.old if change.remove else change.new
        if change.vr and not change.remove:
            element.setdefault("DICOMVRs", {})[change.attribute] = change.vr
    members = {}
    if updatable:
        members["updatableAttributes"] = {"SchemaVersion": SCHEMA_VERSION, **updatable}
    if removable:
        members["removableAttributes"] = {"SchemaVersion": SCHEMA_VERSION, **removable}
    return members


def _element(document: dict, change: AttributeChange) -> dict:
    """The object holding the level's `DICOM` (and `DICOMVRs`), created as needed."""
    if change.level in ("Patient", "Study"):
        element = document.setdefault(change.level, {})
    else:
        series = (
            document.setdefault("Study", {})
            .setdefault("Series", {})
            .setdefault(change.series_uid, {})
        )
        element = (
            series
            if change.level == "Series"
            else series.setdefault("Instances", {}).setdefault(change.instance_uid, {})
        )
    element.setdefault("DICOM", {})
    return element


def carries(document: dict, changes: Iterable[AttributeChange]) -> bool:
    """Whether a metadata document shows every change applied.

    Used on the version after the one an edit was based on: if it carries the edit, that
    version is the edit's own write whose answer was lost, not somebody else's change.
    """
    changes = list(changes)
    renamed = {
        (change.level, change.series_uid, change.instance_uid): change.new
        for change in changes
        if not change.remove and _KEY_ATTRIBUTES.get(change.level) == change.attribute
    }
    for change in changes:
        element = level_element(document, _relocated(change, renamed))
        if change.remove:
            if element is not None and change.attribute in element:
                return False
        elif element is None or element.get(change.attribute) != change.new:
            return False
    return True


def _relocated(change: AttributeChange, renamed: dict[tuple, str]) -> AttributeChange:
    """The change as found after the edit applied: a series or instance whose UID the edit
    changed is found under its new UID."""
    series_uid = renamed.get(("Series", change.series_uid, ""), change.series_uid)
    instance_uid = renamed.get(
        ("Instance", change.series_uid, change.instance_uid), change.instance_uid
    )
    return replace(change, series_uid=series_uid, instance_uid=instance_uid)

"""Reads for the history pages: an image set's versions with the portal's own part in them,
one version's metadata, and the difference between two versions.
"""

from dataclasses import dataclass

from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from apps.healthimaging.types import Datastore, ImageSet, ImageSetVersion
from apps.history.diff import MetadataDiff, diff_documents
from apps.imagesets.metadata import MetadataTree, metadata_tree


class VersionProblem(Exception):
    """Versions that can not be shown or compared; the message says why, for the user."""


@dataclass(frozen=True)
class VersionRow:
    """One version, and the portal edit or revert that made it, if the portal did."""

    entry: ImageSetVersion
    edit: MetadataEdit | None
    is_latest: bool

    @property
    def failed(self) -> bool:
        return (self.entry.workflow_status or "").endswith("_FAILED")

    @property
    def can_be_restored(self) -> bool:
        """An earlier version that did not fail (contract 4.3)."""
        return not self.is_latest and not self.failed

    @property
    def previous(self) -> int | None:
        return self.entry.version - 1 if self.entry.version > 1 else None


@dataclass(frozen=True)
class History:
    datastore: Datastore
    image_set: ImageSet  # the latest version
    rows: tuple[VersionRow, ...]  # newest first
    active_edit: MetadataEdit | None

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(row.entry.version for row in self.rows)

    def row(self, version: int) -> VersionRow | None:
        return next((row for row in self.rows if row.entry.version == version), None)


@dataclass(frozen=True)
class VersionDocument:
    datastore: Datastore
    image_set: ImageSet  # at that version
    latest_version: int
    tree: MetadataTree
    edit: MetadataEdit | None


@dataclass(frozen=True)
class Comparison:
    old: int
    new: int
    diff: MetadataDiff


def history_get(*, datastore_id: str, image_set_id: str) -> History:
    """Every version (all pages of ListImageSetVersions), newest first, with who made it."""
    gateway = get_gateway()
    datastore = gateway.get_datastore(datastore_id)
    image_set = gateway.get_image_set(datastore_id, image_set_id)
    versions = gateway.list_image_set_versions(datastore_id, image_set_id)
    latest = max([image_set.version, *(entry.version for entry in versions)])
    edits = _edits_by_version(datastore_id, image_set_id)
    return History(
        datastore=datastore,
        image_set=image_set,
        rows=tuple(
            VersionRow(
                entry=entry,
                edit=edits.get(entry.version),
                is_latest=entry.version == latest,
            )
            for entry in versions
        ),
        active_edit=MetadataEdit.objects.filter(
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            status__in=MetadataEdit.ACTIVE,
        )
        .select_related("requested_by")
        .first(),
    )


def _edits_by_version(datastore_id: str, image_set_id: str) -> dict[int, MetadataEdit]:
    """The portal's jobs that HealthImaging made a version for, by that version."""
    edits = (
        MetadataEdit.objects.filter(
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            accepted_version__isnull=False,
        )
        .select_related("requested_by")
        .order_by("created_at")
    )
    return {edit.accepted_version: edit for edit in edits}


def version_document_get(
    *, datastore_id: str, image_set_id: str, version: int
) -> VersionDocument:
    """One version's properties and metadata, read-only."""
    gateway = get_gateway()
    latest = gateway.get_image_set(datastore_id, image_set_id)
    if not 1 <= version <= latest.version:
        raise VersionProblem(
            f"This image set has versions 1 to {latest.version}; there is no version {version}."
        )
    return VersionDocument(
        datastore=gateway.get_datastore(datastore_id),
        image_set=gateway.get_image_set(datastore_id, image_set_id, version=version),
        latest_version=latest.version,
        tree=metadata_tree(
            gateway.get_image_set_metadata(datastore_id, image_set_id, version=version)
        ),
        edit=_edits_by_version(datastore_id, image_set_id).get(version),
    )


def comparison_get(
    *,
    datastore_id: str,
    image_set_id: str,
    old: int,
    new: int,
    versions: tuple[int, ...],
) -> Comparison:
    """The difference from version `old` to version `new` (both among `versions`)."""
    missing = [number for number in (old, new) if number not in versions]
    if missing:
        raise VersionProblem(
            f"There is no version {missing[0]}: choose versions from "
            f"{min(versions)} to {max(versions)}."
        )
    if old == new:
        raise VersionProblem("Choose two different versions to compare.")
    gateway = get_gateway()
    return Comparison(
        old=old,
        new=new,
        diff=diff_documents(
            gateway.get_image_set_metadata(datastore_id, image_set_id, version=old),
            gateway.get_image_set_metadata(datastore_id, image_set_id, version=new),
        ),
    )


def revert_refusal(history: History, version: int) -> str | None:
    """Why the image set can not be reverted to `version` now, in words; None if it can."""
    row = history.row(version)
    if row is None:
        return f"This image set has no version {version}."
    if row.is_latest:
        return f"Version {version} is the latest version: there is nothing to revert."
    if row.failed:
        return (
            f"Version {version} ended in {row.entry.workflow_status}: "
            "a failed version can not be restored."
        )
    if history.active_edit is not None:
        return (
            "This image set has an edit in progress. Wait for it to finish, "
            "then revert from the new latest version."
        )
    return None

"""Reads for the edit pages: the metadata an edit is made against, who may see which edits,
the edit shown on an image set's page, and what changed since an edit was made.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.roles import VIEW_AUDIT_LOG
from apps.edits.changes import AttributeChange, level_element
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from apps.healthimaging.types import Datastore, ImageSet

# How long a finished edit stays on its image set's page.
RECENT = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class EditBasis:
    """What an edit form works on: the metadata at `version`, and the image set now."""

    datastore: Datastore
    image_set: ImageSet  # the latest version
    version: int  # the version the user saw: `document` is its metadata
    document: dict
    active_edit: MetadataEdit | None

    @property
    def is_outdated(self) -> bool:
        return self.image_set.version != self.version


@dataclass(frozen=True)
class Drift:
    """One change of an edit, beside the value its attribute has now."""

    change: AttributeChange
    present: bool
    now: Any  # None when absent

    @property
    def changed_since(self) -> bool:
        """Whether the value is no longer the one the user saw (absent counts as None)."""
        return self.now != self.change.old


def edit_basis_get(
    *, datastore_id: str, image_set_id: str, version: int | None = None
) -> EditBasis:
    """The metadata of `version` (the latest when None) and the image set's latest state."""
    gateway = get_gateway()
    datastore = gateway.get_datastore(datastore_id)
    image_set = gateway.get_image_set(datastore_id, image_set_id)
    # Asked by number, so a version made between the two calls can not slip in.
    version = image_set.version if version is None else version
    return EditBasis(
        datastore=datastore,
        image_set=image_set,
        version=version,
        document=gateway.get_image_set_metadata(
            datastore_id, image_set_id, version=version
        ),
        active_edit=MetadataEdit.objects.filter(
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            status__in=MetadataEdit.ACTIVE,
        ).first(),
    )


def edits_visible_to(*, user: AbstractBaseUser) -> QuerySet[MetadataEdit]:
    """A user sees their own edits; one who may read the audit log (an admin, a superuser)
    sees every edit."""
    edits = MetadataEdit.objects.select_related("requested_by")
    return edits if user.has_perm(VIEW_AUDIT_LOG) else edits.filter(requested_by=user)


def edit_list(*, user: AbstractBaseUser) -> QuerySet[MetadataEdit]:
    """The user's own edits, newest first (My edits)."""
    return MetadataEdit.objects.filter(requested_by=user).order_by("-created_at")


def edit_recent_get(
    *, user: AbstractBaseUser, datastore_id: str, image_set_id: str
) -> MetadataEdit | None:
    """The user's newest edit of the image set that is in progress or finished lately."""
    return (
        MetadataEdit.objects.filter(
            requested_by=user, datastore_id=datastore_id, image_set_id=image_set_id
        )
        .filter(
            Q(status__in=MetadataEdit.ACTIVE)
            | Q(finished_at__gte=timezone.now() - RECENT)
        )
        .order_by("-created_at")
        .first()
    )


def edit_drift_get(*, edit: MetadataEdit) -> tuple[ImageSet, list[Drift]]:
    """The image set's latest version, and each change beside its attribute's value there."""
    gateway = get_gateway()
    latest = gateway.get_image_set(edit.datastore_id, edit.image_set_id)
    document = gateway.get_image_set_metadata(
        edit.datastore_id, edit.image_set_id, version=latest.version
    )
    drifts = []
    for change in edit.attribute_changes:
        element = level_element(document, change) or {}
        drifts.append(
            Drift(
                change=change,
                present=change.attribute in element,
                now=element.get(change.attribute),
            )
        )
    return latest, drifts

"""A requested metadata edit and the state of the job that applies it.

The row is the job's truth: the worker reads and writes it under a row lock, and Redis only
carries "look at edit <id> now". Whatever happens to the broker or a worker, the row says
what was asked, what HealthImaging has accepted, and what is left to do.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.edits.changes import AttributeChange


class MetadataEdit(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        UPDATING = "updating", "Updating"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CONFLICT = "conflict", "Conflict"
        TIMED_OUT = "timed_out", "Still locked"

    ACTIVE = (Status.QUEUED, Status.UPDATING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="metadata_edits",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    datastore_id = models.CharField(max_length=32)
    image_set_id = models.CharField(max_length=32)
    base_version = models.PositiveIntegerField(
        help_text="The version the user saw and edited; sent as latestVersionId."
    )
    changes = models.JSONField(help_text="The attribute changes, old and new values.")
    force = models.BooleanField(default=False)
    reason = models.TextField()
    revert_to_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="For a revert: the earlier version to restore (sent as revertToVersionId); "
        "`changes` is then empty.",
    )
    reapplies = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reapplied_by",
        help_text="The edit in conflict whose changes this one re-applies.",
    )

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    message = models.TextField(
        blank=True, help_text="HealthImaging's message, or why the job stopped."
    )
    first_submitted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the update was first sent: versions before it are not this edit's.",
    )
    submitted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When an update was last sent: from then on it may have been applied.",
    )
    accepted_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version HealthImaging made for this edit."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="UpdateImageSetMetadata calls made."
    )
    checks = models.PositiveIntegerField(default=0, help_text="Worker steps taken.")
    interruptions = models.PositiveSmallIntegerField(
        default=0, help_text="Steps that died with their worker (their lease expired)."
    )
    waiting_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Start of the current wait for the image set to settle; the deadline runs from here.",
    )
    next_check_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the worker should look next; later than that, the reconciler does.",
    )
    lease = models.UUIDField(
        null=True, blank=True, help_text="The worker step holding the job."
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One edit in flight per image set: a second one is refused, never raced.
            models.UniqueConstraint(
                fields=["datastore_id", "image_set_id"],
                condition=Q(status__in=["queued", "updating"]),
                name="one_active_edit_per_image_set",
            )
        ]
        indexes = [
            models.Index(
                fields=["requested_by", "-created_at"], name="edits_by_requester"
            ),
            models.Index(
                fields=["datastore_id", "image_set_id", "-created_at"],
                name="edits_by_image_set",
            ),
        ]

    def __str__(self) -> str:
        return f"Edit {self.id} of image set {self.image_set_id}"

    @property
    def attribute_changes(self) -> list[AttributeChange]:
        return [AttributeChange.from_json(item) for item in self.changes]

    @property
    def is_revert(self) -> bool:
        return self.revert_to_version is not None

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def can_reapply(self) -> bool:
        """In conflict, or failed before HealthImaging accepted it (a rejected update
        would only fail again)."""
        return self.status == self.Status.CONFLICT or (
            self.status == self.Status.FAILED and self.accepted_version is None
        )

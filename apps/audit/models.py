"""The audit trail: an append-only record of every action that matters.

Rows hold identifiers (users, data stores, image sets, versions), never patient data.
Nothing in the application updates or deletes them; the model refuses to.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Audit records can be added, never changed or removed."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        raise AppendOnlyError("audit events can not be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events can not be deleted")


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        EDIT_QUEUED = "edit.queued", "Edit queued"
        EDIT_ACCEPTED = "edit.accepted", "Edit accepted by HealthImaging"
        EDIT_SUCCEEDED = "edit.succeeded", "Edit succeeded"
        EDIT_FAILED = "edit.failed", "Edit failed"
        EDIT_CONFLICT = "edit.conflict", "Edit in conflict"
        EDIT_TIMED_OUT = "edit.timed_out", "Edit still locked at its deadline"
        EDIT_CHECKED_AGAIN = "edit.checked_again", "Edit checked again"
        REVERT_QUEUED = "revert.queued", "Revert queued"
        REVERT_ACCEPTED = "revert.accepted", "Revert accepted by HealthImaging"
        REVERT_SUCCEEDED = "revert.succeeded", "Revert succeeded"
        REVERT_FAILED = "revert.failed", "Revert failed"
        REVERT_CONFLICT = "revert.conflict", "Revert in conflict"
        REVERT_TIMED_OUT = "revert.timed_out", "Revert still locked at its deadline"
        SIGNED_IN = "auth.signed_in", "Signed in"
        SIGNED_OUT = "auth.signed_out", "Signed out"
        SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
        ACCOUNT_LOCKED = "auth.locked", "Account locked after failed sign-ins"
        METADATA_VIEWED = "metadata.viewed", "Metadata viewed"
        SEARCHED = "image_sets.searched", "Image sets searched"
        ACCESS_DENIED = "access.denied", "Access refused for the role"
        ROLES_CHANGED = "roles.changed", "Roles changed"
        TOKEN_CREATED = "token.created", "API token created"
        TOKEN_REVOKED = "token.revoked", "API token revoked"
        IMPORT_STARTED = "import.started", "DICOM import started"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        help_text="Who acted; the worker's own steps are recorded for the edit's requester.",
    )
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    datastore_id = models.CharField(max_length=32, blank=True, db_index=True)
    image_set_id = models.CharField(max_length=32, blank=True, db_index=True)
    edit_id = models.UUIDField(null=True, blank=True, db_index=True)
    version_from = models.PositiveIntegerField(null=True, blank=True)
    version_to = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=200, blank=True)
    forced = models.BooleanField(default=False)
    username = models.CharField(
        max_length=150,
        blank=True,
        help_text="The name signed in with (kept for failed sign-ins, which have no actor).",
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events_about",
        help_text="The user acted upon (role changes).",
    )
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_action_display()}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events can not be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events can not be deleted")

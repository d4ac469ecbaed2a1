"""The portal's permissions, which the three roles (Django groups) are made of, and the
personal API tokens users make for themselves.

The permissions belong to no table: `PortalPermission` only gives them a content type, so
Django's permission machinery (`user.has_perm`, `{{ perms }}`, the admin) handles them like
any other.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class PortalPermission(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("browse", "Browse and search image sets, read metadata and history"),
            ("queue_edit", "Queue metadata edits"),
            ("force_edit", "Use Force on metadata edits"),
            ("revert", "Revert image sets to an earlier version"),
            ("view_audit_log", "Read and export the audit log"),
            ("manage_users", "Manage users and their roles"),
            ("start_import", "Start DICOM import jobs"),
        ]

    def __str__(self) -> str:
        return "Imaging Portal permissions"


class ApiToken(models.Model):
    """A personal API token: a script acts as its owner, with the owner's role.

    Only a SHA-256 digest of the token is kept; the token itself is shown once, when it is
    made (`apps.accounts.tokens`). The prefix is public and names the token in lists.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    prefix = models.CharField(max_length=8, unique=True)
    # Unique, so indexed: a token is found by its digest alone.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: never expires."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def status(self) -> str:
        """Active, Expired or Revoked; a revoked token that has also expired is Revoked."""
        if self.is_revoked:
            return "Revoked"
        return "Expired" if self.is_expired else "Active"

"""The portal's permissions, which the three roles (Django groups) are made of.

They belong to no table: `PortalPermission` only gives them a content type, so Django's
permission machinery (`user.has_perm`, `{{ perms }}`, the admin) handles them like any other.
"""

from django.db import models


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
        ]

    def __str__(self) -> str:
        return "Imaging Portal permissions"

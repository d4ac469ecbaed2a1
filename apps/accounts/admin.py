"""User and role management in the Django admin, for the admin role.

Holders of `manage_users` (staff) may add users, change their details and roles, and turn
accounts off. Only a superuser may grant superuser status or single permissions, and the
groups offered are the three roles, so nobody can give themselves more than a role. They
also see every user's API tokens and may revoke them (turning an account off stops its
tokens too).
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db.models import ManyToManyField, QuerySet
from django.http import HttpRequest

from apps.accounts.models import ApiToken
from apps.accounts.roles import MANAGE_USERS, ROLE_PERMISSIONS
from apps.accounts.tokens import token_revoke_by_admin

User = get_user_model()
_SUPERUSER_ONLY = ("is_superuser", "user_permissions")

admin.site.unregister(User)


def _manages_users(request: HttpRequest) -> bool:
    user = request.user
    return user.is_active and user.is_staff and user.has_perm(MANAGE_USERS)


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = ("username", "email", "role_names", "is_active", "last_login")
    list_filter = ("is_active", "groups")

    @admin.display(description="Roles")
    def role_names(self, user: Any) -> str:
        return ", ".join(group.name for group in user.groups.all()) or "none"

    def _manages_users(self, request: HttpRequest) -> bool:
        return _manages_users(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._manages_users(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages_users(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages_users(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._manages_users(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Users who acted are named in the audit trail: turn them off instead.
        return False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (
                name,
                {
                    **options,
                    "fields": [
                        field
                        for field in options["fields"]
                        if field not in _SUPERUSER_ONLY
                    ],
                },
            )
            for name, options in fieldsets
        ]

    def formfield_for_manytomany(
        self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLE_PERMISSIONS)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only, but for the one change an admin makes: revoking (audited, by the
    service). Tokens are made by their owners alone, and kept when revoked."""

    list_display = (
        "user",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("=user__username", "=prefix", "name")
    list_select_related = ("user",)
    ordering = ("-created_at", "-id")
    # The digest is of no use to a person; it stays out of sight.
    fields = list_display
    readonly_fields = list_display
    actions = ["revoke_selected"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _manages_users(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _manages_users(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = token_revoke_by_admin(
            admin=request.user,
            token_ids=queryset.values_list("pk", flat=True),
            request=request,
        )
        self.message_user(
            request,
            f"{revoked} token{'s' if revoked != 1 else ''} revoked.",
            messages.SUCCESS,
        )

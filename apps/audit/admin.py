"""The audit trail in the admin site: read-only, for staff who may read the audit log."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from apps.accounts.roles import VIEW_AUDIT_LOG
from apps.audit.models import AuditEvent


def _may_read(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        user.is_active
        and user.is_staff
        and (user.is_superuser or user.has_perm(VIEW_AUDIT_LOG))
    )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "at",
        "action",
        "actor",
        "username",
        "subject",
        "ip_address",
        "datastore_id",
        "image_set_id",
        "version_from",
        "version_to",
        "outcome",
        "forced",
    )
    list_filter = ("action", "forced", "at")
    search_fields = (
        "=datastore_id",
        "=image_set_id",
        "=username",
        "=actor__username",
        "=subject__username",
        "=ip_address",
    )
    date_hierarchy = "at"
    ordering = ("-at",)
    list_select_related = ("actor", "subject")
    actions = None
    readonly_fields = tuple(
        field.name for field in AuditEvent._meta.get_fields() if field.concrete
    )
    fields = readonly_fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_read(request)

    def has_view_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return _may_read(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

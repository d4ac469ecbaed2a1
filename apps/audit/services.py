"""Recording audit events: the one way rows get into the audit trail."""

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from apps.audit.models import AuditEvent


def client_address(request: HttpRequest | None) -> str | None:
    """The address the request came from, as the server saw it (never X-Forwarded-For)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    action: AuditEvent.Action,
    *,
    actor: AbstractBaseUser | None,
    request: HttpRequest | None = None,
    **fields: object,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        ip_address=client_address(request),
        **fields,
    )

"""Recording audit events: the one way rows get into the audit trail."""

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from apps.accounts.client_ip import client_ip_address
from apps.audit.models import AuditEvent


def client_address(request: HttpRequest | None) -> str | None:
    """The address the request came from, by the same rule as the sign-in lockout."""
    return None if request is None else client_ip_address(request)


def audit_record(
    action: AuditEvent.Action,
    *,
    actor: AbstractBaseUser | None,
    request: HttpRequest | None = None,
    **fields: object,
) -> AuditEvent:
    """Add one record. The address is the request's, unless `ip_address` is given."""
    fields.setdefault("ip_address", client_address(request))
    return AuditEvent.objects.create(action=action, actor=actor, **fields)

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


def audit_metadata_view(
    request: HttpRequest,
    *,
    datastore_id: str,
    image_set_id: str,
    outcome: str,
    version_from: int | None = None,
    version_to: int | None = None,
) -> AuditEvent:
    """A page showed an image set's metadata (patient data): who saw which version."""
    return audit_record(
        AuditEvent.Action.METADATA_VIEWED,
        actor=request.user,
        request=request,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        version_from=version_from,
        version_to=version_to,
        outcome=outcome,
    )

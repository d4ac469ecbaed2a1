"""Recording audit events: the one way rows get into the audit trail."""

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from apps.accounts.client_ip import client_ip_address
from apps.audit.models import AuditEvent

OUTCOME_LENGTH = AuditEvent._meta.get_field("outcome").max_length


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


def audit_search(
    request: HttpRequest,
    *,
    datastore_id: str,
    parameters: dict[str, str],
    shown: int,
    done: str = "Searched",
) -> AuditEvent:
    """A search showed a page of image sets, with their patients' names and IDs: who
    searched a data store for what (the criteria are identifiers and dates), and how many
    image sets the page showed."""
    criteria = ", ".join(f"{name}={value}" for name, value in parameters.items())
    known = f"{done}; {shown} shown; "
    room = OUTCOME_LENGTH - len(known)
    if len(criteria) > room:
        criteria = criteria[: room - 1] + "…"
    return audit_record(
        AuditEvent.Action.SEARCHED,
        actor=request.user,
        request=request,
        datastore_id=datastore_id,
        outcome=f"{known}{criteria}",
    )


def audit_access_denied(
    request: HttpRequest, *, reason: str, kwargs: dict | None = None
) -> AuditEvent | None:
    """A signed-in user was refused for lack of a permission: a failed authorization, worth
    an admin's look. Requests without a user are sent to sign in, not recorded."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    kwargs = kwargs or {}
    return audit_record(
        AuditEvent.Action.ACCESS_DENIED,
        actor=user,
        request=request,
        datastore_id=str(kwargs.get("datastore_id", ""))[:32],
        image_set_id=str(kwargs.get("image_set_id", ""))[:32],
        outcome=f"{request.method} {request.path}: {reason}"[:OUTCOME_LENGTH],
    )

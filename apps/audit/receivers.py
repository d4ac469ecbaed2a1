"""Signal receivers that put sign-ins, sign-outs, lockouts and role changes on the record.

They are connected in `AuditConfig.ready`. Each record holds identifiers only: user names of
portal accounts and group (role) names, never patient data, and never a password.
"""

import ipaddress
from collections import defaultdict
from collections.abc import Iterable

from axes.helpers import get_failure_limit
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.http import HttpRequest

from apps.audit.middleware import current_request, current_user
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record, client_address

Action = AuditEvent.Action
_USERNAME_LENGTH = AuditEvent._meta.get_field("username").max_length
_OUTCOME_LENGTH = AuditEvent._meta.get_field("outcome").max_length
# Where a pending removal is kept between the pre_ and post_ m2m signals.
_PENDING = "_audit_roles_removed"


def _signed_in(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def _valid_address(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def signed_in(
    sender: object,
    request: HttpRequest | None,
    user: AbstractBaseUser,
    **kwargs: object,
) -> None:
    audit_record(
        Action.SIGNED_IN,
        actor=user,
        request=request,
        username=user.get_username()[:_USERNAME_LENGTH],
    )


def signed_out(
    sender: object,
    request: HttpRequest | None,
    user: AbstractBaseUser | None,
    **kwargs: object,
) -> None:
    actor = _signed_in(user)
    audit_record(
        Action.SIGNED_OUT,
        actor=actor,
        request=request,
        username=actor.get_username()[:_USERNAME_LENGTH] if actor else "",
    )


def sign_in_failed(
    sender: object,
    credentials: dict[str, object],
    request: HttpRequest | None = None,
    **kwargs: object,
) -> None:
    """Keep the name that was tried; the credentials' other values (the password) never."""
    field = get_user_model().USERNAME_FIELD
    name = credentials.get(field, credentials.get("username", ""))
    audit_record(
        Action.SIGN_IN_FAILED,
        actor=None,
        request=request,
        username=str(name or "")[:_USERNAME_LENGTH],
    )


def account_locked(
    sender: object,
    request: HttpRequest | None = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: object,
) -> None:
    """django-axes locked an account (or an address) after repeated failed sign-ins.

    Axes sends the signal again for every attempt refused while the lock lasts; each of
    those is already recorded as a failed sign-in, so the lock is recorded once, when it
    starts.
    """
    if request is not None and not _lock_starts(request):
        return
    audit_record(
        Action.ACCOUNT_LOCKED,
        actor=None,
        request=request,
        ip_address=client_address(request) or _valid_address(ip_address),
        username=str(username or "")[:_USERNAME_LENGTH],
    )


def _lock_starts(request: HttpRequest) -> bool:
    """Whether this request's failure is the one that reached the limit.

    Axes counts every failure, refused ones too (each restarts the cool-off), and notes the
    count on the request; a refusal it did not count leaves None. A signal from elsewhere,
    without axes' note, is taken as a lock that starts.
    """
    if not hasattr(request, "axes_failures_since_start"):
        return True
    failures = request.axes_failures_since_start
    limit = get_failure_limit(request, getattr(request, "axes_credentials", None))
    return failures is not None and failures <= limit


def _memberships(
    through: type, instance: object, reverse: bool, pk_set: Iterable[int] | None
) -> list[tuple[int, int]]:
    """(user id, group id) rows that exist now for this side of the relation."""
    rows = through.objects.filter(
        **({"group_id": instance.pk} if reverse else {"user_id": instance.pk})
    )
    if pk_set is not None:
        rows = rows.filter(
            **({"user_id__in": pk_set} if reverse else {"group_id__in": pk_set})
        )
    return list(rows.values_list("user_id", "group_id"))


def roles_changed(
    sender: type,
    instance: object,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    **kwargs: object,
) -> None:
    """`user.groups` or `group.user_set` changed: one record per user whose roles changed.

    The actor is the signed-in user of the current request (see `AuditRequestMiddleware`),
    None outside a request.
    """
    if action in ("pre_remove", "pre_clear"):
        # Only memberships that really exist are removed; remember them for post_.
        setattr(instance, _PENDING, _memberships(sender, instance, reverse, pk_set))
        return
    if action == "post_add":
        pairs = [
            (pk, instance.pk) if reverse else (instance.pk, pk) for pk in pk_set or ()
        ]
        verb = "added to"
    elif action in ("post_remove", "post_clear"):
        pairs = instance.__dict__.pop(_PENDING, [])
        verb = "removed from"
    else:
        return
    if not pairs:
        return
    groups_of: dict[int, set[int]] = defaultdict(set)
    for user_id, group_id in pairs:
        groups_of[user_id].add(group_id)
    names = dict(
        Group.objects.filter(
            pk__in={g for ids in groups_of.values() for g in ids}
        ).values_list("pk", "name")
    )
    users = get_user_model().objects.in_bulk(list(groups_of))
    actor = current_user()
    request = current_request()
    for user_id, group_ids in sorted(groups_of.items()):
        subject = users.get(user_id)
        if subject is None:
            continue
        roles = ", ".join(sorted(names.get(g, str(g)) for g in group_ids))
        audit_record(
            Action.ROLES_CHANGED,
            actor=actor,
            request=request,
            subject=subject,
            outcome=f"{verb} {roles}"[:_OUTCOME_LENGTH],
        )


_FLAGS = ("is_superuser", "is_staff", "is_active")


def account_flags_changed(sender: type, instance: object, **kwargs: object) -> None:
    """Superuser, staff or active turned on or off: as much a privilege change as a role."""
    if instance.pk is None or kwargs.get("raw"):
        return
    stored = sender.objects.filter(pk=instance.pk).values(*_FLAGS).first()
    if stored is None:
        return
    changes = [
        f"{flag} {'on' if getattr(instance, flag) else 'off'}"
        for flag in _FLAGS
        if stored[flag] != getattr(instance, flag)
    ]
    if changes:
        audit_record(
            Action.ROLES_CHANGED,
            actor=current_user(),
            request=current_request(),
            subject=instance,
            outcome=", ".join(changes)[:_OUTCOME_LENGTH],
        )


def user_permissions_changed(
    sender: type,
    instance: object,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    **kwargs: object,
) -> None:
    """Single permissions given to or taken from a user, beside the roles."""
    if reverse or action not in ("post_add", "post_remove", "post_clear"):
        return
    verb = {"post_add": "given", "post_remove": "taken", "post_clear": "all taken"}[
        action
    ]
    codenames = sorted(
        Permission.objects.filter(pk__in=pk_set or ()).values_list(
            "codename", flat=True
        )
    )
    audit_record(
        Action.ROLES_CHANGED,
        actor=current_user(),
        request=current_request(),
        subject=instance,
        outcome=f"permissions {verb}: {', '.join(codenames) or '-'}"[:_OUTCOME_LENGTH],
    )

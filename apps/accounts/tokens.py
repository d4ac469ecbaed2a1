"""Personal API tokens: make, list, revoke, and find the token (and user) a request carries.

A token reads `hip_<prefix>_<secret>`. Only its SHA-256 digest is stored; the text is
returned once, by `token_create`, and never stored or logged. Every create and revoke is
audited in the same transaction, with the token's prefix, never its secret or its name (the
user's free text, which could name a patient).
"""

import datetime
import hashlib
import re
import secrets
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

TOKEN_PREFIX = "hip"
PREFIX_LENGTH = 8
# Lower-case letters and digits: no "_", so the prefix is unambiguous in the token text.
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# token_urlsafe(32): 32 random bytes, 43 URL-safe base64 characters.
SECRET_BYTES = 32
TOKEN_PATTERN = re.compile(
    rf"^{TOKEN_PREFIX}_(?P<prefix>[a-z0-9]{{{PREFIX_LENGTH}}})_[A-Za-z0-9_-]{{43}}$"
)
# `last_used_at` is for people ("used today?"); a write per request would be load, not news.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)
_OUTCOME_LENGTH = AuditEvent._meta.get_field("outcome").max_length


class TokenNotFound(LookupError):
    """No such token among the user's own."""


def _digest(plaintext: str) -> str:
    # A plain, fast, unsalted hash is enough here, unlike for passwords: the secret is 256
    # random bits, so there is no dictionary to try and no brute force within reach, and a
    # salt would stop the lookup by digest that finds a token in one indexed query.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _new_prefix() -> str:
    while True:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        # 36^8 prefixes: a clash is rare, but the column is unique, so pick again.
        if not ApiToken.objects.filter(prefix=prefix).exists():
            return prefix


def _outcome(text: str) -> str:
    return text[:_OUTCOME_LENGTH]


def token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    expires_in_days: int | None,
    request: HttpRequest | None,
) -> tuple[ApiToken, str]:
    """Make a token for `user`, expiring after `expires_in_days` (None: never).

    Returns the token's row and its text: the only time the text exists outside the client.
    """
    if expires_in_days is not None and expires_in_days < 1:
        raise ValueError("A token expires after one day at the soonest.")
    now = timezone.now()
    prefix = _new_prefix()
    plaintext = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    expires_at = (
        None
        if expires_in_days is None
        else now + datetime.timedelta(days=expires_in_days)
    )
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip(),
            prefix=prefix,
            key_hash=_digest(plaintext),
            created_at=now,
            expires_at=expires_at,
        )
        expiry = (
            f"expires {expires_at:%Y-%m-%d %H:%M} UTC"
            if expires_at
            else "never expires"
        )
        audit_record(
            AuditEvent.Action.TOKEN_CREATED,
            actor=user,
            request=request,
            subject=user,
            outcome=_outcome(f"Token {token.prefix}, {expiry}"),
        )
    return token, plaintext


def token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's own tokens, revoked and expired ones too, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def token_revoke(
    *, user: AbstractBaseUser, token_id: int, request: HttpRequest | None
) -> ApiToken:
    """Revoke one of the user's own tokens. Revoking it again changes nothing (and records
    nothing); another user's token is `TokenNotFound`, as if it did not exist."""
    with transaction.atomic():
        try:
            token = token_list(user=user).get(pk=token_id)
        except ApiToken.DoesNotExist:
            raise TokenNotFound(token_id) from None
        _revoke(token, actor=user, request=request, outcome="Token {prefix}")
    return token


def token_revoke_by_admin(
    *,
    admin: AbstractBaseUser,
    token_ids: Iterable[int],
    request: HttpRequest | None,
) -> int:
    """Revoke any users' tokens, recorded with `admin` as the actor and each token's owner
    as the subject. Returns how many were revoked now (not those revoked before)."""
    revoked = 0
    with transaction.atomic():
        for token in ApiToken.objects.filter(pk__in=list(token_ids)).select_related(
            "user"
        ):
            revoked += _revoke(
                token,
                actor=admin,
                request=request,
                outcome="Token {prefix} of {owner}, revoked by an admin",
            )
    return revoked


def _revoke(
    token: ApiToken,
    *,
    actor: AbstractBaseUser,
    request: HttpRequest | None,
    outcome: str,
) -> bool:
    now = timezone.now()
    # Conditional, so two revokes at once revoke (and record) it once.
    if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now
    ):
        token.refresh_from_db(fields=["revoked_at"])
        return False
    token.revoked_at = now
    audit_record(
        AuditEvent.Action.TOKEN_REVOKED,
        actor=actor,
        request=request,
        subject=token.user,
        outcome=_outcome(
            outcome.format(
                prefix=token.prefix,
                owner=token.user.get_username(),
            )
        ),
    )
    return True


def token_user(*, plaintext: str) -> ApiToken | None:
    """The token `plaintext` is, if it may be used now: not revoked, not expired, and its
    user active. Notes when it was used, at most once per `LAST_USED_RESOLUTION`."""
    if not TOKEN_PATTERN.fullmatch(plaintext):
        return None
    # The lookup compares digests in the database, so the time it takes says nothing about
    # the secret: an attacker can not steer a digest towards a stored one.
    try:
        token = ApiToken.objects.select_related("user").get(key_hash=_digest(plaintext))
    except ApiToken.DoesNotExist:
        return None
    if not token.is_active or not token.user.is_active:
        return None
    _note_use(token)
    return token


def _note_use(token: ApiToken) -> None:
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    # Conditional as well, so concurrent requests of one token write once between them.
    ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=stale).update(
        last_used_at=now
    )
    token.last_used_at = now

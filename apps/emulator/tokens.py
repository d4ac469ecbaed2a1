"""Opaque, signed pagination tokens bound to the request that issued them.

A token carries its position and a hash of the criteria and data store it was issued for; a
token replayed with other criteria, tampered with, or older than a day is a ValidationException.
"""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from apps.emulator.errors import ValidationException

TOKEN_LIFETIME_SECONDS = 24 * 3600


def scope_hash(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: bytes, scope: str, position: Any) -> str:
    body = _encode(
        json.dumps({"s": scope, "p": position, "t": int(time.time())}).encode()
    )
    signature = _encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16])
    return f"{body}.{signature}"


def redeem(secret: bytes, scope: str, token: str) -> Any:
    """The position a token points at, if it was issued by us for this same scope."""
    body, _, signature = token.partition(".")
    expected = _encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16])
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise ValidationException("Invalid nextToken")
    try:
        data = json.loads(_decode(body))
    except ValueError as error:
        raise ValidationException("Invalid nextToken") from error
    if data.get("s") != scope:
        raise ValidationException(
            "Invalid nextToken: it was issued for different request parameters"
        )
    if time.time() - data.get("t", 0) > TOKEN_LIFETIME_SECONDS:
        raise ValidationException("Invalid nextToken: the token has expired")
    return data["p"]

"""The address a request came from, for the sign-in lockout (django-axes).

Behind no proxy (DJANGO_TRUSTED_PROXY_COUNT=0, the default) it is REMOTE_ADDR, and
X-Forwarded-For is ignored: anyone can write that header, so trusting it would let an attacker
rotate it to escape the lockout. Behind N trusted proxies, each appends the address it received
the request from, so the client is the N-th address from the right; anything left of it was
written by the client and is ignored. A request with fewer addresses than that did not come
through the proxies, and REMOTE_ADDR is used.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip_address(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]

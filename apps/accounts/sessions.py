"""An absolute session lifetime: a session ends this long after sign-in, active or not.

Idle expiry (apps.core.idle_sessions) ends a session nobody uses; this ends one that is used
all day, as ASVS 7.3.2 asks. The sign-in time is kept in the session when the user signs in;
a request that comes after the lifetime signs the user out (the session is deleted) and goes
on as anonymous, so the view sends it to the login page (htmx requests by HX-Redirect).
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

SIGNED_IN_AT = "accounts_signed_in_at"
EXPIRED_MESSAGE = "Your session reached its time limit. Sign in again to go on."


def record_sign_in(
    sender: object,
    request: HttpRequest | None,
    user: AbstractBaseUser,
    **kwargs: object,
) -> None:
    """`user_logged_in` receiver: note when the session began."""
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = _now()


def _now() -> int:
    """Seconds since the epoch, on the clock session expiry itself uses."""
    return int(timezone.now().timestamp())


class AbsoluteSessionLifetimeMiddleware:
    """Sign out a session older than SESSION_MAX_AGE_SECONDS, counted from sign-in."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = _now()
            signed_in_at = request.session.get(SIGNED_IN_AT)
            if not isinstance(signed_in_at, int):
                # A session from before this check: its lifetime starts now.
                request.session[SIGNED_IN_AT] = now
            elif now - signed_in_at >= settings.SESSION_MAX_AGE_SECONDS:
                logout(request)  # flushes the session: its row is deleted
                messages.info(request, EXPIRED_MESSAGE)
        return self.get_response(request)

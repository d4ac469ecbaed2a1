"""Who is acting right now: the request being handled, for audit records made by signals.

Signals such as `m2m_changed` (a user's roles changed) carry no request. This middleware keeps
the current request in a context variable for the length of the request, so the receivers can
record who made the change and from where. Outside a request (the shell, migrations, a worker)
there is none, and the records have no actor.

Put it after `AuthenticationMiddleware`, so that `request.user` is there.
"""

from collections.abc import Callable
from contextvars import ContextVar

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

_current_request: ContextVar[HttpRequest | None] = ContextVar(
    "audit_current_request", default=None
)


def current_request() -> HttpRequest | None:
    """The request this thread (or task) is handling, if any."""
    return _current_request.get()


def current_user() -> AbstractBaseUser | None:
    """The signed-in user of the current request, or None (no request, or anonymous)."""
    request = current_request()
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user


class AuditRequestMiddleware:
    """Makes the current request known to the audit receivers while it is handled."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)

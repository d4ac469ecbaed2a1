"""Idle session expiry that background polling does not reset.

Django's idle timeout is a sliding window refreshed by saving the session on every request
(`SESSION_SAVE_EVERY_REQUEST`). A page that polls every two seconds would then keep a
session alive for as long as the tab stays open. Here the window slides only on requests
a person made; views that answer polls are marked with `@background_poll`.
"""

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def background_poll(view: View) -> View:
    """Mark a view as polled by the page on its own: it does not count as activity."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        request.is_background_poll = True
        return view(request, *args, **kwargs)

    return wrapper


class IdleSessionMiddleware:
    """Slide a signed-in session's expiry on every request except background polls."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not getattr(request, "is_background_poll", False)
        ):
            request.session.modified = (
                True  # saved, with a new expiry, by SessionMiddleware
            )
        return response

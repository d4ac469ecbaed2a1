"""What every portal view shares: sign-in for htmx, page-or-fragment rendering, and turning
HealthImaging failures into pages and fragments in one place.
"""

import functools
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from apps.healthimaging import errors

View = Callable[..., HttpResponse]
RETRY_AFTER_SECONDS = 5
PROBLEM_PAGE = "imagesets/problem.html"
PROBLEM_FRAGMENT = "imagesets/partials/problem.html"


def is_fragment(request: HttpRequest) -> bool:
    """An htmx swap, not a history restore (which needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def page_or_fragment(
    request: HttpRequest,
    *,
    page: str,
    fragment: str,
    context: dict,
    status: int = 200,
) -> HttpResponse:
    """The full page, or for htmx (not history restores) just the fragment it swaps."""
    response = render(
        request, fragment if is_fragment(request) else page, context, status=status
    )
    patch_vary_headers(response, ("HX-Request",))
    return response


def signed_in(view: View) -> View:
    """login_required, except that an htmx request of an expired session loads the login
    page as a whole page instead of swapping it into a fragment."""
    protected = login_required(view)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: str) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            login = redirect_to_login(_page_shown(request))
            return HttpResponseClientRedirect(login["Location"])
        return protected(request, *args, **kwargs)

    return wrapper


def _page_shown(request: HttpRequest) -> str:
    """The page the browser shows (htmx tells it), to come back to after signing in; the
    fragment's own URL if that page is not on this site."""
    shown = urlsplit(request.htmx.current_url or "")
    if shown.netloc == request.get_host() and shown.path.startswith("/"):
        return urlunsplit(("", "", shown.path, shown.query, ""))
    return request.get_full_path()


def healthimaging_failures(
    *, fragment_id: str, page: str = PROBLEM_PAGE
) -> Callable[[View], View]:
    """Show HealthImaging failures as a message with a way on, never as a 500.

    Unknown data stores and image sets are 404 pages; throttling and an unreachable service
    are 503 pages with Retry-After, or for htmx a 200 fragment (htmx 2 swaps no 5xx) that
    replaces `#<fragment_id>`. A failed POST keeps what was posted (`resubmit`), for a page
    that offers to send it again.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: str) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except errors.HealthImagingError as error:
                return _failure(
                    request, error, fragment_id=fragment_id, page=page, ids=kwargs
                )

        return wrapper

    return decorate


def _failure(
    request: HttpRequest,
    error: errors.HealthImagingError,
    *,
    fragment_id: str,
    page: str,
    ids: dict[str, str],
) -> HttpResponse:
    not_found = isinstance(error, errors.NotFound)
    transient = isinstance(error, errors.Throttled | errors.Unavailable)
    posted = request.method == "POST"
    context = {
        "fragment_id": fragment_id,
        "heading": (
            "Not found"
            if not_found
            else "HealthImaging is busy"
            if isinstance(error, errors.Throttled)
            else "HealthImaging is unavailable"
            if isinstance(error, errors.Unavailable)
            else "HealthImaging could not answer"
        ),
        "message": error.user_message,
        # A link can only repeat a GET; a POST is repeated by `resubmit`.
        "retry_url": None if not_found or posted else request.get_full_path(),
        "resubmit": [
            (name, value)
            for name, values in request.POST.lists()
            if name != "csrfmiddlewaretoken"
            for value in values
        ]
        if posted and not not_found
        else None,
        "datastore_url": (
            reverse("imagesets:image-set-list", args=[ids["datastore_id"]])
            if "image_set_id" in ids
            else None
        ),
    }
    if is_fragment(request):
        response = render(request, PROBLEM_FRAGMENT, context)
        retarget(response, f"#{fragment_id}")
        reswap(response, "outerHTML")
    else:
        status = 404 if not_found else 503 if transient else 502
        response = render(request, page, context, status=status)
        if transient:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    patch_vary_headers(response, ("HX-Request",))
    return response

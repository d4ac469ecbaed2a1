"""Browse and search: data stores, a data store's image sets, one image set and its metadata.

Each view parses, calls one selector and renders the page, or for htmx requests only the partial
it swaps. HealthImaging failures are turned into pages and fragments in one place,
`healthimaging_failures`.
"""

import functools
import json
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from apps.healthimaging import errors
from apps.imagesets import selectors
from apps.imagesets.forms import ImageSetSearchForm

View = Callable[..., HttpResponse]
RETRY_AFTER_SECONDS = 5


def _is_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(
    request: HttpRequest,
    *,
    page: str,
    fragment: str,
    context: dict,
) -> HttpResponse:
    """The full page, or for htmx (not history restores) just the fragment it swaps."""
    response = render(request, fragment if _is_fragment(request) else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def signed_in(view: View) -> View:
    """login_required, except that an htmx request of an expired session loads the login
    page as a whole page instead of swapping it into a fragment."""
    protected = login_required(view)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: str) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            login = redirect_to_login(request.get_full_path())
            return HttpResponseClientRedirect(login["Location"])
        return protected(request, *args, **kwargs)

    return wrapper


def healthimaging_failures(*, fragment_id: str) -> Callable[[View], View]:
    """Show HealthImaging failures as a message with a way on, never as a 500.

    Unknown data stores and image sets are 404 pages; throttling and an unreachable service
    are 503 pages with Retry-After, or for htmx a 200 fragment (htmx 2 swaps no 5xx) that
    replaces `#<fragment_id>`.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: str) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except errors.HealthImagingError as error:
                return _failure(request, error, fragment_id=fragment_id, ids=kwargs)

        return wrapper

    return decorate


def _failure(
    request: HttpRequest,
    error: errors.HealthImagingError,
    *,
    fragment_id: str,
    ids: dict[str, str],
) -> HttpResponse:
    not_found = isinstance(error, errors.NotFound)
    transient = isinstance(error, errors.Throttled | errors.Unavailable)
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
        "retry_url": None if not_found else request.get_full_path(),
        "datastore_url": (
            reverse("imagesets:image-set-list", args=[ids["datastore_id"]])
            if "image_set_id" in ids
            else None
        ),
    }
    if _is_fragment(request):
        response = render(request, "imagesets/partials/problem.html", context)
        retarget(response, f"#{fragment_id}")
        reswap(response, "outerHTML")
    else:
        status = 404 if not_found else 503 if transient else 502
        response = render(request, "imagesets/problem.html", context, status=status)
        if transient:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_safe
@signed_in
@healthimaging_failures(fragment_id="datastores")
def datastore_list(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        page="imagesets/datastore_list.html",
        fragment="imagesets/partials/datastores.html",
        context={"datastores": selectors.datastore_list()},
    )


@require_safe
@signed_in
@healthimaging_failures(fragment_id="results")
def image_set_list(request: HttpRequest, datastore_id: str) -> HttpResponse:
    """The image sets tab: the search form and one page of results."""
    # The heading needs the data store; a fragment does not.
    datastore = (
        None
        if _is_fragment(request)
        else selectors.datastore_get(datastore_id=datastore_id)
    )
    form = ImageSetSearchForm(request.GET)
    results = pager = None
    if form.is_valid():
        results, pager = selectors.image_set_results_page(
            session=request.session,
            datastore_id=datastore_id,
            path=request.path,
            parameters=form.search_parameters(),
            criteria=form.criteria,
            page_size=form.cleaned_data["page_size"],
            page=form.page(),
            cursor=form.cursor(),
        )
    # Paging links swap only the results; the form swaps itself and the results.
    only_results = bool(request.htmx) and request.htmx.target == "results"
    return _render(
        request,
        page="imagesets/image_set_list.html",
        fragment=(
            "imagesets/partials/results.html"
            if only_results
            else "imagesets/partials/search.html"
        ),
        context={
            "datastore": datastore,
            "datastore_id": datastore_id,
            "form": form,
            "results": results,
            "pager": pager,
        },
    )


@require_safe
@signed_in
@healthimaging_failures(fragment_id="image-set")
def image_set_detail(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    return _render(
        request,
        page="imagesets/image_set_detail.html",
        fragment="imagesets/partials/image_set.html",
        context={
            "detail": selectors.image_set_detail_get(
                datastore_id=datastore_id, image_set_id=image_set_id
            )
        },
    )


@require_safe
@signed_in
@healthimaging_failures(fragment_id="image-set")
def image_set_metadata(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    """The metadata document as pretty-printed JSON, downloaded as `<image_set_id>.json`."""
    document = selectors.image_set_metadata_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{image_set_id}.json"'
    return response

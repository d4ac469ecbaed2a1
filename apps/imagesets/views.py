"""Browse and search: data stores, a data store's image sets, one image set and its metadata.

Each view parses, calls one selector and renders the page, or for htmx requests only the partial
it swaps. HealthImaging failures are turned into pages and fragments in one place,
`apps.core.viewtools.healthimaging_failures`.
"""

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from apps.accounts.permissions import permission_required
from apps.accounts.roles import BROWSE
from apps.audit.services import audit_metadata_view, audit_search
from apps.core.viewtools import (
    healthimaging_failures,
    is_fragment,
    page_or_fragment,
)
from apps.imagesets import selectors
from apps.imagesets.forms import ImageSetSearchForm


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="datastores")
def datastore_list(request: HttpRequest) -> HttpResponse:
    return page_or_fragment(
        request,
        page="imagesets/datastore_list.html",
        fragment="imagesets/partials/datastores.html",
        context={"datastores": selectors.datastore_list()},
    )


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="results")
def image_set_list(request: HttpRequest, datastore_id: str) -> HttpResponse:
    """The image sets tab: the search form and one page of results."""
    # The heading needs the data store; a fragment does not.
    datastore = (
        None
        if is_fragment(request)
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
        audit_search(
            request,
            datastore_id=datastore_id,
            parameters=form.search_parameters(),
            shown=len(results.items),
        )
    # Paging links swap only the results; the form swaps itself and the results.
    only_results = bool(request.htmx) and request.htmx.target == "results"
    return page_or_fragment(
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
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="image-set")
def image_set_detail(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    detail = selectors.image_set_detail_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    audit_metadata_view(
        request,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        version_to=detail.image_set.version,
        outcome="Viewed",
    )
    return page_or_fragment(
        request,
        page="imagesets/image_set_detail.html",
        fragment="imagesets/partials/image_set.html",
        context={"detail": detail},
    )


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="image-set")
def image_set_metadata(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    """The metadata document as pretty-printed JSON, downloaded as `<image_set_id>.json`."""
    document = selectors.image_set_metadata_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    audit_metadata_view(
        request,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        outcome="Downloaded as JSON",
    )
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{image_set_id}.json"'
    return response

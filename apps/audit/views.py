"""The audit log page and its CSV export, for users who may read the audit log."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.permissions import permission_required
from apps.accounts.roles import VIEW_AUDIT_LOG
from apps.audit import exports, selectors
from apps.audit.forms import FILTER_PARAMETERS, AuditFilterForm

PAGE_SIZE = 50


def _filter_query(request: HttpRequest) -> str:
    """The filters of this request, as a query string for page and export links."""
    query = QueryDict(mutable=True)
    for name in FILTER_PARAMETERS:
        value = request.GET.get(name, "").strip()
        if value:
            query[name] = value
    return query.urlencode()


@permission_required(VIEW_AUDIT_LOG)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = None
    if form.is_valid():
        events = selectors.audit_event_list(**form.filters())
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/audit_log.html",
        {
            "form": form,
            "page": page,
            "filter_query": _filter_query(request),
            "filtered": any(request.GET.get(name) for name in FILTER_PARAMETERS),
        },
        status=200 if page is not None else 400,
    )


@permission_required(VIEW_AUDIT_LOG)
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "audit/audit_log.html",
            {
                "form": form,
                "page": None,
                "filter_query": _filter_query(request),
                "filtered": True,
            },
            status=400,
        )
    return exports.csv_response(selectors.audit_event_list(**form.filters()))

"""Import pages: a data store's Import jobs tab, one job's page, and Start import.

Views parse, call one selector or service, and render the page, or for htmx requests only
the partial it swaps. While a job is unfinished its table or page polls itself through a
`*-status` route marked `background_poll`, so polling does not keep a session alive.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from apps.accounts.permissions import permission_required
from apps.accounts.roles import BROWSE, START_IMPORT
from apps.core.idle_sessions import background_poll
from apps.core.viewtools import healthimaging_failures, is_fragment, page_or_fragment
from apps.imagesets.selectors import datastore_get
from apps.imports import selectors, services
from apps.imports.forms import ImportJobFilterForm, StartImportForm

PROBLEM_PAGE = "imports/problem.html"


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="jobs", page=PROBLEM_PAGE)
def job_list(request: HttpRequest, datastore_id: str) -> HttpResponse:
    """The Import jobs tab: counts by status, one page of jobs, the status filter."""
    return _job_list(request, datastore_id, polled=False)


@require_safe
@background_poll  # before the check, so a refused poll does not count as activity either
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="jobs", page=PROBLEM_PAGE)
def job_list_status(request: HttpRequest, datastore_id: str) -> HttpResponse:
    """The same jobs, polled by the tab while one of them is unfinished."""
    return _job_list(request, datastore_id, polled=True)


def _job_list(request: HttpRequest, datastore_id: str, *, polled: bool) -> HttpResponse:
    datastore = (
        None if is_fragment(request) else datastore_get(datastore_id=datastore_id)
    )
    form = ImportJobFilterForm(request.GET)
    results = pager = None
    if form.is_valid():
        results, pager = selectors.import_job_results_page(
            session=request.session,
            datastore_id=datastore_id,
            path=reverse("imports:job-list", args=[datastore_id]),
            parameters=form.parameters(),
            page=form.page(),
            cursor=form.cursor(),
            remember=not polled,
        )
    return page_or_fragment(
        request,
        page="imports/job_list.html",
        fragment="imports/partials/jobs.html",
        context={
            "datastore": datastore,
            "datastore_id": datastore_id,
            "form": form,
            "results": results,
            "pager": pager,
            "poll_query": request.GET.urlencode(),
        },
    )


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="import-job", page=PROBLEM_PAGE)
def job_detail(request: HttpRequest, datastore_id: str, job_id: str) -> HttpResponse:
    """One job's properties."""
    return _job_detail(request, datastore_id, job_id)


@require_safe
@background_poll
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="import-job", page=PROBLEM_PAGE)
def job_status(request: HttpRequest, datastore_id: str, job_id: str) -> HttpResponse:
    """The job's properties, polled by its page while it is unfinished."""
    return _job_detail(request, datastore_id, job_id)


def _job_detail(request: HttpRequest, datastore_id: str, job_id: str) -> HttpResponse:
    datastore = (
        None if is_fragment(request) else datastore_get(datastore_id=datastore_id)
    )
    job = selectors.import_job_get(datastore_id=datastore_id, job_id=job_id)
    return page_or_fragment(
        request,
        page="imports/job_detail.html",
        fragment="imports/partials/job.html",
        context={"datastore": datastore, "datastore_id": datastore_id, "job": job},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(START_IMPORT)
@healthimaging_failures(fragment_id="start-import", page=PROBLEM_PAGE)
def job_start(request: HttpRequest, datastore_id: str) -> HttpResponse:
    """The Start import form (GET), and starting the job (POST), then on to its page."""
    if request.method != "POST":
        return _start_page(request, datastore_id, StartImportForm.first_shown())
    form = StartImportForm(request.POST)
    if not form.is_valid():
        return _start_page(request, datastore_id, form)
    try:
        started = services.import_job_start(
            user=request.user,
            request=request,
            datastore_id=datastore_id,
            **form.job_parameters(),
        )
    except services.ImportRefused as refusal:
        form.add_error(None, str(refusal))
        return _start_page(request, datastore_id, form)
    messages.success(
        request,
        f"Import job {form.cleaned_data['job_name']} started. "
        "This page follows it until it ends.",
    )
    return redirect("imports:job-detail", datastore_id, started.job_id)


def _start_page(
    request: HttpRequest, datastore_id: str, form: StartImportForm
) -> HttpResponse:
    return render(
        request,
        "imports/job_start.html",
        {
            "datastore": datastore_get(datastore_id=datastore_id),
            "datastore_id": datastore_id,
            "form": form,
        },
    )

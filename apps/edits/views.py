"""Edit pages: the edit form and its review, an edit's page and live status, My edits.

Views parse, call one selector or service, and render. The form turns input into changes
and holds the rules' verdicts; services queue, re-apply and resume edits. Every POST answers
with a redirect (after a change) or the form again with all its input.
"""

import uuid
from collections.abc import Callable

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)
from django_htmx.http import HTMX_STOP_POLLING, trigger_client_event

from apps.accounts.permissions import permission_required
from apps.accounts.roles import FORCE_EDIT, QUEUE_EDIT
from apps.audit.services import audit_metadata_view
from apps.core.idle_sessions import background_poll
from apps.core.viewtools import (
    healthimaging_failures,
    is_fragment,
    page_or_fragment,
)
from apps.edits import selectors, services
from apps.edits.forms import MetadataEditForm
from apps.edits.models import MetadataEdit

PROBLEM_PAGE = "edits/problem.html"
EDITS_PER_PAGE = 25
# Sent when a polled edit has finished, so the image set page reloads its metadata.
FINISHED_EVENT = "edit-finished"


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(QUEUE_EDIT)
@healthimaging_failures(fragment_id="edit-form", page=PROBLEM_PAGE)
def edit_form(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    """The form (GET), and its steps (POST): add a row, review, back to edit, queue."""
    if request.method == "POST":
        return _edit_form_step(request, datastore_id, image_set_id)
    basis = selectors.edit_basis_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    audit_metadata_view(
        request,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        version_to=basis.version,
        outcome="Opened the edit form",
    )
    form = MetadataEditForm(
        document=basis.document,
        initial={"base_version": basis.version},
        can_force=_can_force(request),
    )
    return _form_page(request, basis, form)


def _edit_form_step(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    # Checked against the version the user saw; the latest may have moved on since.
    basis = selectors.edit_basis_get(
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        version=MetadataEditForm.posted_version(request.POST),
    )
    action = request.POST.get("action")
    adding_row = "add_row" in request.POST
    if adding_row or action == "edit":
        form = MetadataEditForm(
            request.POST,
            document=basis.document,
            draft=True,
            add_row=adding_row,
            can_force=_can_force(request),
        )
        return _form_page(request, basis, form)
    form = MetadataEditForm(
        request.POST, document=basis.document, can_force=_can_force(request)
    )
    if not form.is_valid():
        return _form_page(request, basis, form)
    if action != "queue":
        return render(request, "edits/edit_review.html", {"basis": basis, "form": form})
    try:
        services.queue_edit(
            user=request.user,
            request=request,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=form.cleaned_data["base_version"],
            changes=form.changes,
            force=form.cleaned_data["force"],
            reason=form.cleaned_data["reason"],
        )
    except services.EditRefused as refusal:
        form.add_error(None, str(refusal))
        return _form_page(request, basis, form)
    return redirect("imagesets:image-set-detail", datastore_id, image_set_id)


def _can_force(request: HttpRequest) -> bool:
    """Force is for the roles that hold it (admins): others neither see nor send it."""
    return request.user.has_perm(FORCE_EDIT)


def _form_page(
    request: HttpRequest, basis: selectors.EditBasis, form: MetadataEditForm
) -> HttpResponse:
    return render(request, "edits/edit_form.html", {"basis": basis, "form": form})


@require_safe
@permission_required(QUEUE_EDIT)
@healthimaging_failures(fragment_id="edit", page=PROBLEM_PAGE)
def edit_detail(request: HttpRequest, edit_id: uuid.UUID) -> HttpResponse:
    """An edit: what was asked and what became of it; in conflict, what changed since."""
    edit = _visible_edit(request, edit_id)
    latest, drifts = (
        selectors.edit_drift_get(edit=edit)
        if edit.status == MetadataEdit.Status.CONFLICT
        else (None, [])
    )
    if latest is not None:
        audit_metadata_view(
            request,
            datastore_id=edit.datastore_id,
            image_set_id=edit.image_set_id,
            version_to=latest.version,
            outcome="Compared an edit in conflict with the latest version",
        )
    return render(
        request,
        "edits/edit_detail.html",
        {"edit": edit, "latest": latest, "drifts": drifts},
    )


@require_safe
@background_poll  # before the check, so a refused poll does not count as activity either
@permission_required(QUEUE_EDIT)
def edit_status(request: HttpRequest, edit_id: uuid.UUID) -> HttpResponse:
    """The status panel, polled while the edit is active.

    A finished edit stops the polling (286) and tells the page (`edit-finished`), which
    then reloads the image set's properties and metadata.
    """
    edit = _visible_edit(request, edit_id)
    finished = is_fragment(request) and not edit.is_active
    response = page_or_fragment(
        request,
        page="edits/edit_status.html",
        fragment="edits/partials/edit_status.html",
        context={"edit": edit},
        status=HTMX_STOP_POLLING if finished else 200,
    )
    if finished:
        trigger_client_event(response, FINISHED_EVENT)
    return response


@require_POST
@permission_required(QUEUE_EDIT)
@healthimaging_failures(fragment_id="edit", page=PROBLEM_PAGE)
def edit_reapply(request: HttpRequest, edit_id: uuid.UUID) -> HttpResponse:
    """Queue the edit's changes again, on the image set's latest version."""
    return _follow_up(request, edit_id, services.reapply_edit)


@require_POST
@permission_required(QUEUE_EDIT)
def edit_check_again(request: HttpRequest, edit_id: uuid.UUID) -> HttpResponse:
    """Follow an edit that was still locked at its deadline again."""
    return _follow_up(request, edit_id, services.check_again)


@require_safe
@permission_required(QUEUE_EDIT)
def edit_list(request: HttpRequest) -> HttpResponse:
    """My edits: the signed-in user's edits, newest first."""
    page = Paginator(selectors.edit_list(user=request.user), EDITS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "edits/edit_list.html", {"page": page})


def _follow_up(
    request: HttpRequest, edit_id: uuid.UUID, action: Callable[..., object]
) -> HttpResponse:
    """Run a service on one of the user's edits: on to the image set page to follow it, or
    back to the edit's page with the reason it was refused."""
    edit = _visible_edit(request, edit_id)
    try:
        action(edit=edit, user=request.user, request=request)
    except services.EditRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("edits:edit-detail", edit.pk)
    return redirect("imagesets:image-set-detail", edit.datastore_id, edit.image_set_id)


def _visible_edit(request: HttpRequest, edit_id: uuid.UUID) -> MetadataEdit:
    """The edit, if this user may see it; 404 otherwise, so others' edits stay unknown."""
    return get_object_or_404(selectors.edits_visible_to(user=request.user), pk=edit_id)

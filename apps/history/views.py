"""History pages: an image set's versions, one version's metadata, a comparison of two
versions, and the revert confirmation.

Reading needs `browse`; reverting needs `revert` (admins), checked before any HealthImaging
call. Views parse, call selectors (and for a revert one service), and render.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from apps.accounts.permissions import permission_required
from apps.accounts.roles import BROWSE, REVERT
from apps.audit.services import audit_metadata_view
from apps.core.viewtools import healthimaging_failures, page_or_fragment
from apps.edits import services
from apps.history import selectors
from apps.history.forms import CompareForm, RevertForm


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="history")
def version_list(
    request: HttpRequest, datastore_id: str, image_set_id: str
) -> HttpResponse:
    """The History tab: every version, newest first, with who made it through the portal."""
    history = selectors.history_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    return render(request, "history/version_list.html", {"history": history})


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="version")
def version_detail(
    request: HttpRequest, datastore_id: str, image_set_id: str, version: int
) -> HttpResponse:
    """One version's properties and metadata, read-only."""
    try:
        document = selectors.version_document_get(
            datastore_id=datastore_id, image_set_id=image_set_id, version=version
        )
    except selectors.VersionProblem as problem:
        return render(
            request,
            "history/version_missing.html",
            {
                "datastore_id": datastore_id,
                "image_set_id": image_set_id,
                "message": str(problem),
            },
            status=404,
        )
    audit_metadata_view(
        request,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        version_to=version,
        outcome=f"Viewed version {version}",
    )
    return render(request, "history/version_detail.html", {"document": document})


@require_safe
@permission_required(BROWSE)
@healthimaging_failures(fragment_id="comparison")
def compare(request: HttpRequest, datastore_id: str, image_set_id: str) -> HttpResponse:
    """Two versions side by side, attribute by attribute: `?from=<a>&to=<b>[&all=1]`."""
    history = selectors.history_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    form = CompareForm(request.GET)
    comparison = problem = None
    old = new = None
    if form.is_valid():
        old, new = form.versions(history.image_set.version)
        try:
            comparison = selectors.comparison_get(
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                old=old,
                new=new,
                versions=history.versions,
            )
        except selectors.VersionProblem as refusal:
            problem = str(refusal)
        else:
            audit_metadata_view(
                request,
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                version_from=old,
                version_to=new,
                outcome=f"Compared version {old} with version {new}",
            )
    else:
        problem = "Versions are whole numbers, from 1."
    return page_or_fragment(
        request,
        page="history/compare.html",
        fragment="history/partials/comparison.html",
        context={
            "history": history,
            "form": form,
            "comparison": comparison,
            "problem": problem,
            "selected_old": old,
            "selected_new": new,
            "show_all": form.is_valid() and form.cleaned_data["all"],
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(REVERT)
@healthimaging_failures(fragment_id="revert")
def revert(
    request: HttpRequest, datastore_id: str, image_set_id: str, version: int
) -> HttpResponse:
    """Confirm a revert to `version` (what will change, and a reason); POST queues it."""
    history = selectors.history_get(
        datastore_id=datastore_id, image_set_id=image_set_id
    )
    latest = history.image_set.version
    problem = selectors.revert_refusal(history, version)
    if request.method != "POST":
        form = RevertForm(initial={"base_version": latest})
    else:
        form = RevertForm(request.POST)
        if problem is None and form.is_valid():
            if form.cleaned_data["base_version"] != latest:
                # Changed since the page was shown: show the new difference, confirm again.
                form = RevertForm({**request.POST.dict(), "base_version": latest})
                form.add_error(
                    None,
                    f"The image set changed since you opened this page: it is now at "
                    f"version {latest}. Review what the revert will change, then confirm again.",
                )
            else:
                try:
                    services.queue_revert(
                        user=request.user,
                        request=request,
                        datastore_id=datastore_id,
                        image_set_id=image_set_id,
                        base_version=latest,
                        revert_to_version=version,
                        reason=form.cleaned_data["reason"],
                    )
                except services.EditRefused as refusal:
                    form.add_error(None, str(refusal))
                else:
                    messages.success(
                        request,
                        f"Revert to version {version} queued. Its status shows below.",
                    )
                    return redirect(
                        "imagesets:image-set-detail", datastore_id, image_set_id
                    )
    # Only a page shown again needs the difference: a queued revert redirects above.
    comparison = None
    if problem is None:
        comparison = selectors.comparison_get(
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            old=latest,
            new=version,
            versions=history.versions,
        )
        if request.method != "POST":
            audit_metadata_view(
                request,
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                version_from=latest,
                version_to=version,
                outcome=f"Reviewed a revert to version {version}",
            )
    return render(
        request,
        "history/revert_confirm.html",
        {
            "history": history,
            "version": version,
            "form": form,
            "problem": problem,
            "comparison": comparison,
        },
        status=409 if problem and request.method == "POST" else 200,
    )

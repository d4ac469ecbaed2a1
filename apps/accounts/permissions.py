"""The permission check every view makes: signed in, then the permission, else a 403 page.

A refused request gets a friendly page saying what is missing (an htmx request reloads the
page instead), never the data, and never a HealthImaging call.
"""

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import HTMX_STOP_POLLING

from apps.audit.services import audit_access_denied
from apps.core.viewtools import signed_in

View = Callable[..., HttpResponse]

# What each permission lets a role do, in words for the person refused.
PERMISSION_NEEDS = {
    "accounts.browse": "browse image sets",
    "accounts.queue_edit": "edit metadata",
    "accounts.force_edit": "use Force",
    "accounts.revert": "revert image sets",
    "accounts.view_audit_log": "read the audit log",
    "accounts.manage_users": "manage users",
    "accounts.start_import": "start DICOM imports",
}


def forbidden(
    request: HttpRequest,
    permission: str | None = None,
    exception: Exception | None = None,
) -> HttpResponse:
    """The 403 page; also Django's `handler403`, which passes the exception. The refusal
    is audited."""
    needed = PERMISSION_NEEDS.get(permission or "", "do this")
    resolved = getattr(request, "resolver_match", None)
    audit_access_denied(
        request,
        reason=f"the role may not {needed}",
        kwargs=resolved.kwargs if resolved else None,
    )
    response = render(
        request, "accounts/forbidden.html", {"needed": needed}, status=403
    )
    htmx = getattr(request, "htmx", False)
    if htmx and getattr(request, "is_background_poll", False):
        # A refused poll (the user lost the role): stop it rather than reload the page.
        response.status_code = HTMX_STOP_POLLING
    elif htmx:
        # htmx swaps no 4xx: reload the page, which then shows what this user may see.
        response["HX-Refresh"] = "true"
    return response


def permission_required(permission: str) -> Callable[[View], View]:
    """Signed in (as `signed_in`), and holding `permission` (e.g. "accounts.browse")."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(
            request: HttpRequest, *args: object, **kwargs: object
        ) -> HttpResponse:
            if not request.user.has_perm(permission):
                return forbidden(request, permission)
            return view(request, *args, **kwargs)

        return signed_in(checked)

    return decorate

"""API token pages: the user's own tokens, a new token shown once, and revoking one.

Every role may manage its own tokens (a token acts with its owner's role, no more).
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from apps.accounts import tokens
from apps.accounts.forms import ApiTokenForm
from apps.accounts.permissions import permission_required
from apps.accounts.roles import BROWSE

# The API's first resource, for the example request on the new token's page.
EXAMPLE_API_PATH = "/api/v1/datastores/"


@require_safe
@permission_required(BROWSE)
def token_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, ApiTokenForm())


@require_POST
@never_cache  # the page holds the token's text: no cache may keep a copy of it
@permission_required(BROWSE)
def token_create(request: HttpRequest) -> HttpResponse:
    """Make a token and show it, once: this page is the only place its text appears. It is
    answered here, not after a redirect, so the text is never kept to show later."""
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form)
    token, plaintext = tokens.token_create(
        user=request.user,
        name=form.cleaned_data["name"],
        expires_in_days=form.expires_in_days,
        request=request,
    )
    return render(
        request,
        "accounts/token_created.html",
        {
            "token": token,
            "plaintext": plaintext,
            "example_url": request.build_absolute_uri(EXAMPLE_API_PATH),
        },
    )


@require_POST
@permission_required(BROWSE)
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = tokens.token_revoke(
            user=request.user, token_id=token_id, request=request
        )
    except tokens.TokenNotFound:
        raise Http404("No such API token.") from None
    messages.success(
        request,
        f"The API token “{token.name}” ({token.prefix}) is revoked: "
        "requests that use it are refused from now on.",
    )
    return redirect("accounts:token-list")


def _list_page(request: HttpRequest, form: ApiTokenForm) -> HttpResponse:
    return render(
        request,
        "accounts/token_list.html",
        {"form": form, "tokens": tokens.token_list(user=request.user)},
    )

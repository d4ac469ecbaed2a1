"""The home page (the data stores list is the front door) and the liveness probe."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_safe


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("imagesets:datastore-list")


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose: the process serves, nothing more."""
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response

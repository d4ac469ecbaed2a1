"""The home page and the liveness probe."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose: the process serves, nothing more."""
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response

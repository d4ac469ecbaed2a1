"""The home page (the data stores list is the front door), the health check, and the
404 and 500 handlers (JSON under /api/, the usual pages elsewhere)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import defaults
from django.views.decorators.http import require_safe

from apps.api import errors as api_errors
from apps.core import health


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("imagesets:datastore-list")


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and compose: 200 when the database, Redis and HealthImaging can
    all be reached, else 503; each by name as "ok" or "unavailable", and nothing more."""
    report = health.health_report()
    healthy = all(report.values())
    response = JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": {
                name: "ok" if reachable else "unavailable"
                for name, reachable in report.items()
            },
        },
        status=200 if healthy else 503,
    )
    response["Cache-Control"] = "no-store"
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if api_errors.is_api_request(request):
        return api_errors.not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if api_errors.is_api_request(request):
        return api_errors.server_error(request)
    return defaults.server_error(request)

"""Every API error as JSON: a stable machine `code`, a `message` for people, and for
validation errors the problems per field.

Clients branch on `code` and show `message`; both are documented in the schema. The codes are
part of the API's contract: add new ones, never rename one.
"""

import logging

from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.audit.services import audit_access_denied
from apps.edits import services as edit_services
from apps.healthimaging import errors as healthimaging
from apps.imports import services as import_services

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 5

# DRF's own codes that read better for clients under another name.
_RENAMED = {"throttled": "rate_limited"}


class ApiError(exceptions.APIException):
    """An error with a code and message of our choosing (and, optionally, more fields)."""

    def __init__(
        self,
        *,
        status_code: int,
        code: str,
        message: str,
        wait: float | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message, code)
        self.status_code = status_code
        self.error_code = code
        self.wait = wait
        self.extra = extra


def error_body(code: str, message: str, **extra: object) -> dict:
    return {"code": code, "message": message, **extra}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler: known failures become documented JSON errors."""
    exc = _translated(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handler answers (as JSON under /api/)
    if isinstance(exc, exceptions.PermissionDenied):
        audit_access_denied(
            context["request"], reason=str(exc.detail), kwargs=context.get("kwargs")
        )
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(max(int(exc.wait + 0.999), 1))
    set_rollback()
    return Response(_body(exc), status=exc.status_code, headers=headers, exception=True)


def _body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, ApiError):
        return error_body(exc.error_code, str(exc.detail), **exc.extra)
    if isinstance(exc, exceptions.ValidationError):
        return error_body(
            "invalid",
            "Some of what was sent is not valid: see `fields`.",
            fields=_field_errors(exc.detail),
        )
    code = exc.get_codes()
    code = code if isinstance(code, str) else exc.default_code
    return error_body(_RENAMED.get(code, code), _message(exc))


def _message(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.Throttled):
        return "Too many requests from your account. Wait a moment and try again."
    if isinstance(exc, exceptions.NotAuthenticated):
        return "Sign in or send a personal API token: Authorization: Bearer <token>."
    return str(exc.detail)


def form_errors(form_errors: dict) -> dict[str, list[str]]:
    """A Django form's errors by field, the whole-form ones as `non_field_errors`."""
    return {
        ("non_field_errors" if name == "__all__" else name): list(messages)
        for name, messages in form_errors.items()
    }


def form_invalid(form: forms.Form) -> exceptions.ValidationError:
    """A form's errors as the API's 400."""
    return exceptions.ValidationError(form_errors(form.errors))


def _field_errors(detail: object) -> object:
    """DRF's error tree, with its ErrorDetail strings as plain strings; errors that belong
    to no field under `non_field_errors`."""
    if isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        return {"non_field_errors": [str(item) for item in detail]}
    return _plain(detail)


def _plain(detail: object) -> object:
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(item) for item in detail]
    return str(detail)


def _translated(exc: Exception) -> Exception:
    """Django's, the services' and HealthImaging's failures as API exceptions."""
    if isinstance(exc, Http404):
        return exceptions.NotFound("Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, edit_services.EditInProgress):
        return ApiError(
            status_code=status.HTTP_409_CONFLICT,
            code="edit_in_progress",
            message=str(exc),
            active_edit_id=str(exc.active.pk),
        )
    if isinstance(exc, edit_services.EditStateRefused):
        return ApiError(
            status_code=status.HTTP_409_CONFLICT, code="conflict", message=str(exc)
        )
    if isinstance(exc, edit_services.EditRefused):
        return ApiError(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="edit_refused",
            message=str(exc),
        )
    if isinstance(exc, import_services.ImportRefused):
        conflict = isinstance(exc.__cause__, healthimaging.Conflict)
        return ApiError(
            status_code=status.HTTP_409_CONFLICT
            if conflict
            else status.HTTP_400_BAD_REQUEST,
            code="conflict" if conflict else "import_refused",
            message=str(exc),
        )
    if isinstance(exc, healthimaging.HealthImagingError):
        return _healthimaging_error(exc)
    return exc


# Each HealthImaging failure as (status, code, retry after), subclasses before their bases.
_HEALTHIMAGING_ANSWERS: tuple[tuple[type, int, str, float | None], ...] = (
    (healthimaging.NotFound, status.HTTP_404_NOT_FOUND, "not_found", None),
    (healthimaging.QuotaExceeded, status.HTTP_400_BAD_REQUEST, "quota_exceeded", None),
    (
        healthimaging.Throttled,
        status.HTTP_429_TOO_MANY_REQUESTS,
        "healthimaging_throttled",
        RETRY_AFTER_SECONDS,
    ),
    (
        healthimaging.Unavailable,
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "healthimaging_unavailable",
        RETRY_AFTER_SECONDS,
    ),
    (healthimaging.Conflict, status.HTTP_409_CONFLICT, "conflict", None),
)


def _healthimaging_error(exc: healthimaging.HealthImagingError) -> ApiError:
    # Logged without detail: the service's message may quote the request.
    logger.warning("HealthImaging failed an API request: %s", type(exc).__name__)
    status_code, code, wait = next(
        (
            (status_code, code, wait)
            for kind, status_code, code, wait in _HEALTHIMAGING_ANSWERS
            if isinstance(exc, kind)
        ),
        (status.HTTP_502_BAD_GATEWAY, "healthimaging_error", None),
    )
    return ApiError(
        status_code=status_code, code=code, message=exc.user_message, wait=wait
    )


# -- outside DRF's views: unknown URLs and crashes under /api/ ---------------------------


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        error_body(
            "server_error",
            "The portal failed to answer. The failure is logged; try again later.",
        ),
        status=500,
    )

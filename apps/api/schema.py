"""What the OpenAPI schema says beyond what drf-spectacular reads from the views: the error
body and which errors each endpoint may answer, and query parameters read by Django forms
(the pages' own forms, so the API validates exactly as the pages do).
"""

from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable machine-readable code: invalid, parse_error, edit_refused, "
        "quota_exceeded, not_authenticated, authentication_failed, permission_denied, "
        "not_found, method_not_allowed, not_acceptable, unsupported_media_type, conflict, "
        "edit_in_progress, rate_limited, healthimaging_throttled, healthimaging_error, "
        "healthimaging_unavailable, server_error."
    )
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(
        required=False,
        child=serializers.JSONField(),
        help_text="For `invalid`: the problems, by field (`non_field_errors` for the "
        "request as a whole). Problems with one of `changes` are at its index.",
    )
    active_edit_id = serializers.UUIDField(
        required=False, help_text="For `edit_in_progress`: the edit in progress."
    )


_ERROR_MEANINGS = {
    400: "The request is not valid (`invalid`, `parse_error`, `edit_refused`, "
    "`quota_exceeded`).",
    401: "No credentials, or a token that is unknown, revoked or expired.",
    403: "Your role does not allow this.",
    404: "No such data store, image set, version, edit or page.",
    409: "The image set or edit is not in a state that allows this.",
    429: "Too many requests: yours (`rate_limited`) or HealthImaging's "
    "(`healthimaging_throttled`). Wait for Retry-After seconds.",
    502: "HealthImaging refused the request (`healthimaging_error`).",
    503: "HealthImaging can not be reached (`healthimaging_unavailable`). Retry later.",
}
# Every authenticated endpoint may answer these.
COMMON_ERRORS = (401, 403, 429)
# Every endpoint that calls HealthImaging may also answer these.
HEALTHIMAGING_ERRORS = (404, 429, 502, 503)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses of an endpoint: the common ones and `codes`."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_MEANINGS[code])
        for code in sorted({*COMMON_ERRORS, *codes})
    }


def form_parameters(
    form_class: type[forms.Form], *, exclude: tuple[str, ...] = ()
) -> list[OpenApiParameter]:
    """Query parameters described from a Django form's fields (choices, types, help)."""
    parameters = []
    for name, field in form_class.base_fields.items():
        if name in exclude:
            continue
        parameters.append(
            OpenApiParameter(
                name,
                _field_type(field),
                OpenApiParameter.QUERY,
                required=False,
                description=str(field.help_text or field.label or ""),
                enum=[str(value) for value, _ in field.choices if str(value) != ""]
                if isinstance(field, forms.ChoiceField)
                else None,
            )
        )
    return parameters


def _field_type(field: forms.Field) -> OpenApiTypes:
    if isinstance(field, forms.DateTimeField):
        return OpenApiTypes.DATETIME
    if isinstance(field, forms.DateField):
        return OpenApiTypes.DATE
    if isinstance(field, forms.TimeField):
        return OpenApiTypes.TIME
    if isinstance(field, forms.IntegerField):
        return OpenApiTypes.INT
    if isinstance(field, forms.BooleanField):
        return OpenApiTypes.BOOL
    return OpenApiTypes.STR

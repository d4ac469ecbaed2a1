"""What the OpenAPI schema says beyond what drf-spectacular reads from the views: the error
body and which errors each endpoint may answer, query parameters read by Django forms (the
pages' own forms, so the API validates exactly as the pages do), and the constraints on
request fields that drf-spectacular does not carry over by itself.
"""

from typing import TYPE_CHECKING

from django import forms
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_array_type
from drf_spectacular.utils import Direction, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

# A data store or image set ID, as the URLs take it.
HEALTHIMAGING_ID = r"^[0-9a-z]{32}$"
# The largest version number a request may name (a 32-bit signed integer, as the service's).
MAX_VERSION = 2**31 - 1


def _character_class(codes: list[int]) -> str:
    """`codes` (ascending) as the inside of a regex character class, in `\\uXXXX` ranges."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(
        f"\\u{first:04x}" + (f"-\\u{last:04x}" if last > first else "")
        for first, last in runs
    )


# Whitespace as Python counts it (`str.isspace`), which is what DRF trims, spelled out: in
# a schema's pattern `\s` means ECMAScript's whitespace, and that differs (U+001C-U+001F
# and U+0085 are not in it).
_WHITESPACE = _character_class([c for c in range(0x3001) if chr(c).isspace()])
# Text without NUL (U+0000), which DRF and Django refuse in any text (PostgreSQL can not
# store it).
NUL_FREE = r"^[^\u0000]*$"
NUL_FREE_NOT_EMPTY = r"^[^\u0000]+$"
# The same, with a character that is not whitespace: text that is still there once trimmed.
NUL_FREE_NOT_BLANK = rf"^[^\u0000]*[^\u0000{_WHITESPACE}][^\u0000]*$"


class TextField(serializers.CharField):
    """A CharField whose schema also states what DRF refuses in text: NUL, and where a
    value is required, whitespace alone (trimmed to nothing)."""


class TextFieldExtension(OpenApiSerializerFieldExtension):
    target_class = TextField

    def map_serializer_field(
        self, auto_schema: "AutoSchema", direction: Direction
    ) -> dict:
        field = self.target
        schema = auto_schema._map_serializer_field(
            field, direction, bypass_extensions=True
        )
        if field.trim_whitespace and not field.allow_blank:
            schema["pattern"] = NUL_FREE_NOT_BLANK
        else:
            # Not empty either: for `allow_blank` drf-spectacular adds the empty value as a
            # `oneOf` branch of its own, which this one must not overlap.
            schema["pattern"] = NUL_FREE_NOT_EMPTY
        return schema


class BoundedListSerializer(serializers.ListSerializer):
    """A list of nested objects whose `min_length` and `max_length` the schema states
    (drf-spectacular leaves them out of a nested serializer's `many=True`)."""


class BoundedListSerializerExtension(OpenApiSerializerFieldExtension):
    target_class = BoundedListSerializer

    def map_serializer_field(
        self, auto_schema: "AutoSchema", direction: Direction
    ) -> dict:
        schema = build_array_type(
            auto_schema._map_serializer_field(self.target.child, direction)
        )
        bounds = {
            "minItems": self.target.min_length,
            "maxItems": self.target.max_length,
        }
        return {**schema, **{key: n for key, n in bounds.items() if n is not None}}


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable machine-readable code: invalid, parse_error, edit_refused, "
        "import_refused, quota_exceeded, not_authenticated, authentication_failed, permission_denied, "
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
    "`import_refused`, `quota_exceeded`).",
    401: "No credentials, or a token that is unknown, revoked or expired.",
    403: "Your role does not allow this.",
    404: "No such data store, image set, version, edit, import job or page.",
    409: "The image set, edit or data store is not in a state that allows this, or a "
    "client token was used for another request.",
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


# A time of day as the forms read it (Django's TIME_INPUT_FORMATS): no offset, the API's
# times being UTC. OpenAPI's `time` format would promise RFC 3339 times with an offset.
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
# What a form makes of an empty query value (`?start=`): the parameter left out.
_EMPTY = {"type": "string", "maxLength": 0}


def form_parameters(
    form_class: type[forms.Form],
    *,
    exclude: tuple[str, ...] = (),
    schemas: dict[str, dict] | None = None,
) -> list[OpenApiParameter]:
    """Query parameters described from a Django form's fields (choices, types, bounds, help).

    Every one is optional, and an empty value counts as left out, as the pages' forms read
    them. `schemas` replaces the schema of a field the form checks in a way its field types
    do not show.
    """
    parameters = []
    for name, field in form_class.base_fields.items():
        if name in exclude:
            continue
        schema = (schemas or {}).get(name) or _field_schema(field)
        parameters.append(
            OpenApiParameter(
                name,
                accepting_empty(schema),
                OpenApiParameter.QUERY,
                required=False,
                description=str(field.help_text or field.label or ""),
            )
        )
    return parameters


def accepting_empty(schema: dict) -> dict:
    """A query parameter's schema that also admits an empty value (`?name=`), which the
    API reads as the parameter left out."""
    takes_empty = (
        schema.get("type") == "string"
        and schema.get("pattern", NUL_FREE) == NUL_FREE
        and not schema.keys() & {"format", "enum", "minLength"}
    )
    return schema if takes_empty else {"anyOf": [schema, _EMPTY]}


def _field_schema(field: forms.Field) -> dict:
    if isinstance(field, forms.ChoiceField):
        return {
            "type": "string",
            "enum": [str(value) for value, _ in field.choices if str(value) != ""],
        }
    if isinstance(field, forms.DateTimeField):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, forms.DateField):
        return {"type": "string", "format": "date"}
    if isinstance(field, forms.TimeField):
        return {"type": "string", "pattern": TIME_PATTERN}
    if isinstance(field, forms.IntegerField):
        bounds = {"minimum": field.min_value, "maximum": field.max_value}
        return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}}
    if isinstance(field, forms.BooleanField):
        return {"type": "boolean"}
    schema: dict = {"type": "string", "pattern": NUL_FREE}
    if getattr(field, "max_length", None) is not None:
        schema["maxLength"] = field.max_length
    return schema

"""The HealthImaging wire contract, read from the installed botocore service model.

Owns the route table, the rest-json request binding (URI labels, query strings, JSON payload)
and the server-side check of every model constraint, which botocore leaves to the service.
"""

import base64
import binascii
import datetime
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
import orjson
from botocore.model import OperationModel, ServiceModel, Shape

from apps.emulator.errors import ValidationException

SERVICE_NAME = "medical-imaging"

# Java regex features the model uses that Python's `re` spells differently.
_JAVA_TO_PYTHON = {r"\p{ASCII}": r"[\x00-\x7f]"}


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


@functools.cache
def _pattern(java_pattern: str) -> re.Pattern:
    python_pattern = java_pattern
    for java, python in _JAVA_TO_PYTHON.items():
        python_pattern = python_pattern.replace(java, python)
    # Java's \w and \d are ASCII-only.
    return re.compile(python_pattern, re.ASCII | re.DOTALL)


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern
    operation: OperationModel


@functools.cache
def routes() -> tuple[Route, ...]:
    model = service_model()
    table = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        path = operation.http["requestUri"].split("?")[0]
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]*)" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)
        )
        table.append(
            Route(operation.http["method"], re.compile(f"^{regex}$"), operation)
        )
    return tuple(table)


def match_route(
    method: str, raw_path: str
) -> tuple[OperationModel, dict[str, str]] | None:
    """Find the operation for a request; labels are matched on the still-encoded path.

    ARNs arrive percent-encoded (`%2F` inside `/tags/{resourceArn}`), so matching must happen
    before decoding.
    """
    for route in routes():
        if route.method != method:
            continue
        match = route.regex.match(raw_path)
        if match:
            return route.operation, {
                k: unquote(v) for k, v in match.groupdict().items()
            }
    return None


def parse_request(
    operation: OperationModel, labels: dict[str, str], query_string: str, body: bytes
) -> dict[str, Any]:
    """Bind an HTTP request to the operation's input members, then check every constraint."""
    shape = operation.input_shape
    if shape is None:
        return {}
    query = parse_qs(query_string, keep_blank_values=True)
    params: dict[str, Any] = {}
    payload_member = shape.serialization.get("payload")
    body_members = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            params[name] = labels[wire_name]
        elif location == "querystring" and wire_name in query:
            params[name] = _from_query(member, query[wire_name], wire_name)
        elif location is None and name != payload_member:
            body_members[name] = member
    document = _json_body(body)
    if payload_member:
        if document is not None:
            params[payload_member] = _from_json(
                shape.members[payload_member], document, payload_member
            )
    elif document is not None:
        if not isinstance(document, dict):
            raise ValidationException("Request body must be a JSON object")
        for name, member in body_members.items():
            if name in document and document[name] is not None:
                params[name] = _from_json(member, document[name], name)
    errors = list(constraint_violations(shape, params))
    if errors:
        raise ValidationException(validation_message(errors))
    return params


def validation_message(errors: list[str]) -> str:
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        # orjson bounds nesting depth and integer size, so no body can exhaust the parser.
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ValidationException("Request body is not valid JSON") from error


def _from_query(member: Shape, values: list[str], wire_name: str) -> Any:
    if member.type_name == "list":
        return values
    value = values[-1]
    if member.type_name == "integer":
        if not re.fullmatch(r"-?[0-9]{1,10}", value):
            raise ValidationException(
                f"Value '{value}' at '{wire_name}' is not an integer"
            )
        return int(value)
    if member.type_name == "boolean":
        if value not in ("true", "false"):
            raise ValidationException(
                f"Value '{value}' at '{wire_name}' is not a boolean"
            )
        return value == "true"
    return value


_JSON_TYPES = {
    "string": str,
    "boolean": bool,
    "structure": dict,
    "map": dict,
    "list": list,
}


def _from_json(shape: Shape, value: Any, path: str) -> Any:
    """Convert a JSON value to Python by its shape; type mismatches are validation errors."""
    kind = shape.type_name
    if kind == "timestamp":
        return _timestamp(value, path)
    if kind == "blob":
        if not isinstance(value, str):
            raise ValidationException(
                f"Value at '{path}' must be a base64 encoded string"
            )
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationException(
                f"Value at '{path}' is not valid base64"
            ) from error
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationException(f"Value at '{path}' must be an integer")
        return value
    expected = _JSON_TYPES.get(kind)
    if expected and not isinstance(value, expected):
        raise ValidationException(f"Value at '{path}' must be of type {kind}")
    if kind == "string":
        _require_utf8(value, path)
    if kind == "structure":
        return {
            name: _from_json(member, value[name], f"{path}.{name}")
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [_from_json(shape.member, item, f"{path}.member") for item in value]
    if kind == "map":
        return {
            _from_json(shape.key, k, f"{path}.key"): _from_json(
                shape.value, v, f"{path}.value"
            )
            for k, v in value.items()
        }
    return value


def _require_utf8(value: str, path: str) -> None:
    # JSON can carry lone surrogates, which are not text and can not be stored.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationException(
            f"Value at '{path}' is not valid UTF-8 text"
        ) from error


def _timestamp(value: Any, path: str) -> float:
    # rest-json sends epoch seconds; ISO-8601 strings are accepted too, as the service does.
    if isinstance(value, bool):
        raise ValidationException(f"Value at '{path}' must be a timestamp")
    if isinstance(value, int | float):
        if not -1e11 < value < 1e11:
            raise ValidationException(f"Value at '{path}' is not a valid timestamp")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise ValidationException(
                f"Value at '{path}' is not a valid timestamp"
            ) from error
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()
    raise ValidationException(f"Value at '{path}' must be a timestamp")


def constraint_violations(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every model constraint `value` breaks, in AWS's wording; an empty list when it conforms."""
    found: list[str] = []
    _check(shape, value, path, found)
    return found


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "java.nio.HeapByteBuffer"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _violation(value: Any, path: str, constraint: str) -> str:
    return f"Value '{_render(value)}' at '{path}' failed to satisfy constraint: {constraint}"


def _check(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, found)
        return
    if kind in ("string", "blob"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have length greater than or equal to {meta['min']}",
                )
            )
        if "max" in meta and size > meta["max"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have length less than or equal to {meta['max']}",
                )
            )
    if kind == "string":
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must satisfy regular expression pattern: {meta['pattern']}",
                )
            )
        if shape.enum and value not in shape.enum:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must satisfy enum value set: [{', '.join(shape.enum)}]",
                )
            )
    elif kind in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have value greater than or equal to {meta['min']}",
                )
            )
        if "max" in meta and value > meta["max"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have value less than or equal to {meta['max']}",
                )
            )
    elif kind == "list":
        if "min" in meta and len(value) < meta["min"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have length greater than or equal to {meta['min']}",
                )
            )
        if "max" in meta and len(value) > meta["max"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have length less than or equal to {meta['max']}",
                )
            )
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", found)
    elif kind == "map":
        if "max" in meta and len(value) > meta["max"]:
            found.append(
                _violation(
                    value,
                    path,
                    f"Member must have length less than or equal to {meta['max']}",
                )
            )
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", found)
            _check(shape.value, item, f"{path}.value", found)


def _check_structure(shape: Shape, value: Mapping, path: str, found: list[str]) -> None:
    prefix = f"{path}." if path else ""
    for name in shape.required_members:
        if value.get(name) is None:
            found.append(
                f"Value null at '{prefix}{name}' failed to satisfy constraint: Member must not be null"
            )
    if shape.metadata.get("union"):
        present = [name for name in shape.members if value.get(name) is not None]
        if len(present) != 1:
            found.append(
                f"Value at '{path or shape.name}' failed to satisfy constraint: "
                f"Exactly one of [{', '.join(shape.members)}] must be set"
            )
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], f"{prefix}{name}", found)


def serialize_response(
    operation: OperationModel, output: dict[str, Any]
) -> tuple[dict[str, str], bytes]:
    """Split an operation's output into HTTP headers and body, as rest-json lays them out."""
    shape = operation.output_shape
    headers: dict[str, str] = {}
    payload_member = shape.serialization.get("payload")
    document = {}
    for name, member in shape.members.items():
        if name not in output or output[name] is None:
            continue
        location = member.serialization.get("location")
        if location == "header":
            headers[member.serialization.get("name", name)] = str(output[name])
        elif name != payload_member:
            document[name] = _to_json(member, output[name])
    if payload_member:
        return headers, output[payload_member]
    headers["Content-Type"] = "application/json"
    return headers, orjson.dumps(document)


@functools.cache
def _needs_conversion(shape_name: str) -> bool:
    """Whether a shape holds a blob or timestamp anywhere, i.e. is not already JSON-ready."""
    shape = service_model().shape_for(shape_name)
    if shape.type_name in ("blob", "timestamp"):
        return True
    if shape.type_name == "structure":
        return any(_needs_conversion(member.name) for member in shape.members.values())
    if shape.type_name == "list":
        return _needs_conversion(shape.member.name)
    return False


def _to_json(shape: Shape, value: Any) -> Any:
    if not _needs_conversion(shape.name):
        return value
    if shape.type_name == "blob":
        return base64.b64encode(value).decode()
    if shape.type_name == "timestamp":
        return round(value, 3)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {
            k: _to_json(shape.members[k], v) if k in shape.members else v
            for k, v in value.items()
            if v is not None
        }
    if shape.type_name == "list":
        return [_to_json(shape.member, item) for item in value]
    return value

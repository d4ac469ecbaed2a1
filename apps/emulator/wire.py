"""The emulator's HTTP face: a WSGI application speaking HealthImaging's rest-json protocol.

One port serves every operation and ignores the Host header, so clients must turn off the
`runtime-` host prefix. Test knobs live under `/_emulator/`, a path no AWS operation uses.
"""

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from apps.emulator import spec
from apps.emulator.errors import (
    AccessDeniedException,
    InternalServerException,
    ServiceError,
    ThrottlingException,
    ValidationException,
)
from apps.emulator.handlers import HANDLERS, Context
from apps.emulator.state import Store

logger = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

# Developer Guide, "throttling-limits": (rate per second, burst) per operation.
DOCUMENTED_RATES: dict[str, tuple[float, int]] = {
    "CreateDatastore": (0.085, 1),
    "GetDatastore": (10, 20),
    "ListDatastores": (5, 10),
    "DeleteDatastore": (0.085, 1),
    "SearchImageSets": (25, 50),
    "GetImageSet": (25, 50),
    "GetImageSetMetadata": (50, 100),
    "ListImageSetVersions": (25, 50),
    "UpdateImageSetMetadata": (0.25, 1),
    "CopyImageSet": (0.25, 1),
    "DeleteImageSet": (0.25, 1),
    "TagResource": (10, 20),
    "ListTagsForResource": (10, 20),
    "UntagResource": (10, 20),
}
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class Throttle:
    """Per-operation token buckets at the documented rates; off unless switched on."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, operation: str) -> bool:
        if not self.enabled or operation not in DOCUMENTED_RATES:
            return True
        rate, burst = DOCUMENTED_RATES[operation]
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(operation, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            allowed = tokens >= 1
            self._buckets[operation] = (tokens - 1 if allowed else tokens, now)
            return allowed


class EmulatorApp:
    def __init__(
        self,
        store: Store,
        *,
        throttle: Throttle | None = None,
        validate_responses: bool = False,
    ) -> None:
        self.store = store
        self.throttle = throttle or Throttle()
        self.validate_responses = validate_responses

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        raw_path = environ.get("REQUEST_URI", "").split("?")[0] or environ.get(
            "PATH_INFO", "/"
        )
        raw_path = re.sub(r"^[a-z]+://[^/]+", "", raw_path)
        method = environ["REQUEST_METHOD"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if raw_path.startswith("/_emulator/"):
            status, headers, payload = self._control(method, raw_path, body)
        else:
            status, headers, payload = self._operation(environ, method, raw_path, body)
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        headers["Content-Length"] = str(len(payload))
        start_response(
            f"{status} {_STATUS_TEXT.get(status, 'Error')}", list(headers.items())
        )
        return [payload]

    def _operation(
        self, environ: dict, method: str, raw_path: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        found = spec.match_route(method, raw_path)
        if found is None:
            return _error_response(
                404, "UnknownOperationException", "Unknown operation"
            )
        operation, labels = found
        try:
            authorization = environ.get("HTTP_AUTHORIZATION", "")
            if not authorization.startswith("AWS4-HMAC-SHA256"):
                raise AccessDeniedException("Missing Authentication Token")
            if not self.throttle.allow(operation.name):
                raise ThrottlingException("Rate exceeded")
            params = spec.parse_request(
                operation, labels, environ.get("QUERY_STRING", ""), body
            )
            region_match = _REGION.search(authorization)
            context = Context(
                region=region_match.group(1) if region_match else "us-east-1",
                body_size=len(body),
            )
            handler = HANDLERS.get(operation.name)
            if handler is None:
                raise ValidationException(
                    f"{operation.name} is not implemented by this emulator yet"
                )
            output = handler(self.store, params, context)
            if self.validate_responses:
                violations = spec.constraint_violations(
                    operation.output_shape,
                    {k: v for k, v in output.items() if v is not None},
                )
                if violations:
                    raise InternalServerException(
                        "Response breaks the model: " + "; ".join(violations)
                    )
            headers, payload = spec.serialize_response(operation, output)
        except ServiceError as error:
            return _error_response(error.status, error.code, error.message)
        except Exception:
            logger.exception("Unexpected failure in %s", operation.name)
            return _error_response(
                500, "InternalServerException", "Internal server error"
            )
        return 200, headers, payload

    def _control(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Test knobs: the update delay, throttling, and a failure injected into the next update."""
        try:
            data = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError:
            return _json(400, {"message": "Body must be JSON"})
        if path == "/_emulator/health":
            return _json(200, {"status": "ok"})
        if path == "/_emulator/config":
            if method == "POST":
                if "updateDelaySeconds" in data:
                    self.store.update_delay = float(data["updateDelaySeconds"])
                if "throttling" in data:
                    self.throttle.enabled = bool(data["throttling"])
            return _json(
                200,
                {
                    "updateDelaySeconds": self.store.update_delay,
                    "throttling": self.throttle.enabled,
                    "strict": self.store.strict,
                },
            )
        match = re.fullmatch(
            r"/_emulator/image-sets/([0-9a-z]{32})/fail-next-update", path
        )
        if match and method == "POST":
            message = data.get("message") or "INVALID_REQUEST: injected failure"
            self.store.fail_next_update(match.group(1), message)
            return _json(200, {"imageSetId": match.group(1), "message": message})
        return _json(404, {"message": "Unknown emulator control endpoint"})


def _json(status: int, document: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def _error_response(
    status: int, code: str, message: str
) -> tuple[int, dict[str, str], bytes]:
    status, headers, payload = _json(status, {"__type": code, "message": message})
    headers["x-amzn-ErrorType"] = code
    return status, headers, payload

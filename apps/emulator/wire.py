"""The emulator's HTTP face: a WSGI application speaking HealthImaging's rest-json protocol.

One port serves every operation and ignores the Host header, so clients must turn off the
`runtime-` host prefix. Test knobs live under `/_emulator/`, a path no AWS operation uses.
"""

import contextlib
import json
import logging
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel

from apps.emulator import spec
from apps.emulator.errors import (
    AccessDeniedException,
    InternalServerException,
    ServiceError,
    ServiceUnavailableException,
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
    "StartDICOMImportJob": (1, 2),
    "GetDICOMImportJob": (25, 50),
    "ListDICOMImportJobs": (10, 20),
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
# Calls kept by the call log; the oldest go first once it is full.
CALL_LOG_SIZE = 20000
# Longest a lost response may be held: a held answer occupies one of the server's threads.
MAX_HOLD_SECONDS = 30.0
# Longest added latency: every operation request holds one of the server's threads that long.
MAX_LATENCY_SECONDS = 5.0
_LOST_RESPONSE_PATH = re.compile(
    r"/_emulator/image-sets/([0-9a-z]{32})/lose-next-update-response"
)
_HOLD_LOCKED_PATH = re.compile(
    r"/_emulator/image-sets/([0-9a-z]{32})/hold-next-update-locked"
)
_UPDATE = "UpdateImageSetMetadata"
# What the fault knob may answer with, and how: the modelled 429 and 500, and a 503.
_FAULTS: dict[int, tuple[type[ServiceError], str]] = {
    429: (ThrottlingException, "Rate exceeded"),
    500: (InternalServerException, "Internal server error"),
    503: (ServiceUnavailableException, "Service unavailable"),
}
# Call log fields beside the operation, image set, status and time (see `CallLog`).
_DETAILS = ("invocationId", "attempt", "maxAttempts", "inFlight")
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
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


class CallShare:
    """Refuses a fixed share of each operation's requests, at predictable positions: the
    throttling knob answers them 429, the fault knob with a server error.

    Token buckets depend on timing, so a test can not say which call they refuse. Here request
    n (counting from 0) of an operation is refused when floor((n + 1) * share) > floor(n * share):
    share 0.5 refuses every second call, share 1 every call. The share is kept as the exact
    decimal it was given in, so 0.57 refuses exactly 57 calls of every 100. Counting restarts
    whenever the share or the operations change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.share = Fraction(0)
        self.operations: frozenset[str] | None = None
        self._counts: dict[str, int] = {}
        self._refused = 0

    def configure(self, share: Fraction, operations: frozenset[str] | None) -> None:
        with self._lock:
            self.share = share
            self.operations = operations
            self._counts.clear()
            self._refused = 0

    def throttled(self, operation: str) -> bool:
        return self.refusal(operation) is not None

    def refusal(self, operation: str) -> int | None:
        """None if this request passes; else how many were refused before it (all operations)."""
        with self._lock:
            if not self.share or (
                self.operations is not None and operation not in self.operations
            ):
                return None
            n = self._counts.get(operation, 0)
            self._counts[operation] = n + 1
            if math.floor((n + 1) * self.share) == math.floor(n * self.share):
                return None
            self._refused += 1
            return self._refused - 1


class UpdatesInFlight:
    """Each image set's UpdateImageSetMetadata requests being served right now, so the call
    log can show whether a client ever had two updates of one image set under way at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving: dict[str, int] = {}

    @contextlib.contextmanager
    def serving(self, image_set_id: str) -> Iterator[int]:
        """Count this request while it is served; yields how many are, itself included."""
        with self._lock:
            count = self._serving.get(image_set_id, 0) + 1
            self._serving[image_set_id] = count
        try:
            yield count
        finally:
            with self._lock:
                self._serving[image_set_id] -= 1
                if not self._serving[image_set_id]:
                    del self._serving[image_set_id]


class CallLog:
    """Every operation request in arrival order, so tests see what a client really sent.

    An entry is added when a request arrives and gets its status once the answer is decided,
    so a request still being worked on (or a response being held) shows `"status": null`
    only until then. Bounded: the oldest entries go once `CALL_LOG_SIZE` is reached.

    Each entry also carries botocore's retry headers (`invocationId`, the same on every attempt
    of one call; `attempt` and `maxAttempts`) and, for an update, `inFlight` (see
    `EmulatorApp._logged_operation`); null where they do not apply.
    """

    def __init__(self, size: int = CALL_LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._calls: deque[dict[str, Any]] = deque(maxlen=size)

    def begin(
        self,
        operation: str | None,
        image_set_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        # The clock is read under the lock so `at` never goes backwards along the log.
        with self._lock:
            entry = {
                "operation": operation,
                "imageSetId": image_set_id,
                "status": None,
                "at": time.time(),
                **dict.fromkeys(_DETAILS),
                **(details or {}),
            }
            self._calls.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], status: int) -> None:
        with self._lock:
            entry["status"] = status

    def calls(
        self, *, operation: str | None = None, image_set_id: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(entry)
                for entry in self._calls
                if (operation is None or entry["operation"] == operation)
                and (image_set_id is None or entry["imageSetId"] == image_set_id)
            ]

    def clear(self) -> int:
        with self._lock:
            count = len(self._calls)
            self._calls.clear()
            return count


class BadKnob(ValueError):
    """A test knob was given a value it can not take; answered 400 with the reason."""


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
        self.throttle_share = CallShare()
        self.fault_share = CallShare()
        # The statuses the fault knob answers with, in turn.
        self.fault_statuses: tuple[int, ...] = (500,)
        self._updates_in_flight = UpdatesInFlight()
        self.call_log = CallLog()
        self.validate_responses = validate_responses
        # Seconds every operation request waits before it is handled: a network round trip.
        self.latency = 0.0
        self._knob_lock = threading.Lock()
        # Image set ID -> seconds to hold the response of its next applied update.
        self._lost_responses: dict[str, float] = {}
        # Set by `close()`: held responses are let go at once so the server can stop.
        self._closing = threading.Event()

    def close(self) -> None:
        """Release every held response; the server calls this when it stops."""
        self._closing.set()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        raw_path = environ.get("REQUEST_URI", "").split("?")[0] or environ.get(
            "PATH_INFO", "/"
        )
        raw_path = re.sub(r"^[a-z]+://[^/]+", "", raw_path)
        method = environ["REQUEST_METHOD"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if raw_path.startswith("/_emulator/"):
            status, headers, payload = self._control(
                method, raw_path, environ.get("QUERY_STRING", ""), body
            )
        else:
            status, headers, payload = self._logged_operation(
                environ, method, raw_path, body
            )
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        headers["Content-Length"] = str(len(payload))
        start_response(
            f"{status} {_STATUS_TEXT.get(status, 'Error')}", list(headers.items())
        )
        return [payload]

    def _logged_operation(
        self, environ: dict, method: str, raw_path: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one operation request, record it in the call log, and apply the
        lost-response knob: an applied update whose response is to be lost is held back
        (after it was committed and logged) so the client's read timeout fires first."""
        found = spec.match_route(method, raw_path)
        if found is None:
            entry = self.call_log.begin(None, None)
            answer = _error_response(
                404, "UnknownOperationException", "Unknown operation"
            )
            self.call_log.finish(entry, answer[0])
            return answer
        operation, labels = found
        image_set_id = labels.get("imageSetId") or labels.get("sourceImageSetId")
        details = _sdk_attempt(environ)
        if operation.name == _UPDATE and image_set_id:
            with self._updates_in_flight.serving(image_set_id) as serving:
                # The image set's updates under way: those being served, plus an earlier
                # one that has not settled (the set is LOCKED). One at a time shows 1.
                details["inFlight"] = serving + self.store.is_locked(
                    labels["datastoreId"], image_set_id
                )
                answer = self._answer(environ, operation, labels, body, details)
        else:
            answer = self._answer(environ, operation, labels, body, details)
        if answer[0] == 200 and operation.name == _UPDATE:
            with self._knob_lock:
                hold = self._lost_responses.pop(image_set_id or "", None)
            if hold:
                self._closing.wait(hold)
        return answer

    def _answer(
        self,
        environ: dict,
        operation: OperationModel,
        labels: dict[str, str],
        body: bytes,
        details: dict[str, Any],
    ) -> tuple[int, dict[str, str], bytes]:
        image_set_id = labels.get("imageSetId") or labels.get("sourceImageSetId")
        entry = self.call_log.begin(operation.name, image_set_id, details)
        if self.latency:
            self._closing.wait(self.latency)
        answer = self._operation(environ, operation, labels, body)
        self.call_log.finish(entry, answer[0])
        return answer

    def _operation(
        self,
        environ: dict,
        operation: OperationModel,
        labels: dict[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            authorization = environ.get("HTTP_AUTHORIZATION", "")
            if not authorization.startswith("AWS4-HMAC-SHA256"):
                raise AccessDeniedException("Missing Authentication Token")
            if self.throttle_share.throttled(operation.name) or not self.throttle.allow(
                operation.name
            ):
                raise ThrottlingException("Rate exceeded")
            fault = self.fault_share.refusal(operation.name)
            if fault is not None:
                kind, message = _FAULTS[
                    self.fault_statuses[fault % len(self.fault_statuses)]
                ]
                raise kind(message)
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
        self, method: str, path: str, query_string: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Test knobs: the update and import delays, latency, throttling and server faults,
        failures, lost responses and LOCKED holds injected into the next update, and the call
        log. A bad value is a 400 with the reason, never a 500."""
        try:
            data = json.loads(body) if body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json(400, {"message": "Body must be JSON"})
        if not isinstance(data, dict):
            return _json(400, {"message": "Body must be a JSON object"})
        try:
            return self._knob(method, path, parse_qs(query_string), data)
        except BadKnob as error:
            return _json(400, {"message": str(error)})

    def _knob(
        self, method: str, path: str, query: dict[str, list[str]], data: dict
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/_emulator/health":
            return _json(200, {"status": "ok"})
        if path == "/_emulator/config":
            if method == "POST":
                self._configure(data)
            return _json(200, self._config())
        if path == "/_emulator/calls" and method in ("GET", "DELETE"):
            if method == "DELETE":
                return _json(200, {"cleared": self.call_log.clear()})
            return _json(
                200,
                {
                    "calls": self.call_log.calls(
                        operation=query.get("operation", [None])[-1],
                        image_set_id=query.get("imageSetId", [None])[-1],
                    )
                },
            )
        if path == "/_emulator/calls/clear" and method == "POST":
            return _json(200, {"cleared": self.call_log.clear()})
        match = re.fullmatch(
            r"/_emulator/image-sets/([0-9a-z]{32})/fail-next-update", path
        )
        if match and method == "POST":
            message = data.get("message") or "INVALID_REQUEST: injected failure"
            if not isinstance(message, str):
                raise BadKnob("message must be a string")
            self.store.fail_next_update(match.group(1), message)
            return _json(200, {"imageSetId": match.group(1), "message": message})
        match = _LOST_RESPONSE_PATH.fullmatch(path)
        if match and method == "POST":
            hold = _number(data.get("holdSeconds", 5), "holdSeconds")
            if not 0 < hold <= MAX_HOLD_SECONDS:
                raise BadKnob(
                    f"holdSeconds must be more than 0 and at most {MAX_HOLD_SECONDS:g}"
                )
            with self._knob_lock:
                self._lost_responses[match.group(1)] = hold
            return _json(200, {"imageSetId": match.group(1), "holdSeconds": hold})
        match = _HOLD_LOCKED_PATH.fullmatch(path)
        if match and method == "POST":
            polls = data.get("lockedPolls")
            if polls is not None and (
                isinstance(polls, bool) or not isinstance(polls, int) or polls < 0
            ):
                raise BadKnob("lockedPolls must be a whole number, 0 or more, or null")
            self.store.hold_next_update_locked(match.group(1), polls)
            return _json(200, {"imageSetId": match.group(1), "lockedPolls": polls})
        return _json(404, {"message": "Unknown emulator control endpoint"})

    def _config(self) -> dict[str, Any]:
        operations = self.throttle_share.operations
        return {
            "updateDelaySeconds": self.store.update_delay,
            "importDelaySeconds": self.store.import_delay,
            "throttling": self.throttle.enabled,
            "throttleShare": float(self.throttle_share.share),
            "throttleOperations": None if operations is None else sorted(operations),
            "faultShare": float(self.fault_share.share),
            "faultStatuses": list(self.fault_statuses),
            "faultOperations": None
            if self.fault_share.operations is None
            else sorted(self.fault_share.operations),
            "latencySeconds": self.latency,
            "strict": self.store.strict,
        }

    def _configure(self, data: dict) -> None:
        """Check every value first and change nothing unless all of them are good."""
        unknown = set(data) - {
            "updateDelaySeconds",
            "importDelaySeconds",
            "throttling",
            "throttleShare",
            "throttleOperations",
            "faultShare",
            "faultStatuses",
            "faultOperations",
            "latencySeconds",
        }
        if unknown:
            raise BadKnob(
                f"Unknown or read-only config keys: {', '.join(sorted(unknown))}"
            )
        delay = self.store.update_delay
        if "updateDelaySeconds" in data:
            delay = _number(data["updateDelaySeconds"], "updateDelaySeconds")
        import_delay = self.store.import_delay
        if "importDelaySeconds" in data:
            # null: import jobs follow the update delay again.
            import_delay = (
                None
                if data["importDelaySeconds"] is None
                else _number(data["importDelaySeconds"], "importDelaySeconds")
            )
        throttling = self.throttle.enabled
        if "throttling" in data:
            if not isinstance(data["throttling"], bool):
                raise BadKnob("throttling must be true or false")
            throttling = data["throttling"]
        share = self.throttle_share.share
        if "throttleShare" in data:
            share = _share(data["throttleShare"], "throttleShare")
        operations = self.throttle_share.operations
        if "throttleOperations" in data:
            operations = _operation_names(
                data["throttleOperations"], "throttleOperations"
            )
        fault_share = self.fault_share.share
        if "faultShare" in data:
            fault_share = _share(data["faultShare"], "faultShare")
        fault_operations = self.fault_share.operations
        if "faultOperations" in data:
            fault_operations = _operation_names(
                data["faultOperations"], "faultOperations"
            )
        fault_statuses = self.fault_statuses
        if "faultStatuses" in data:
            fault_statuses = _fault_statuses(data["faultStatuses"])
        latency = self.latency
        if "latencySeconds" in data:
            latency = _number(data["latencySeconds"], "latencySeconds")
            if latency > MAX_LATENCY_SECONDS:
                raise BadKnob(f"latencySeconds must be at most {MAX_LATENCY_SECONDS:g}")
        self.store.update_delay = delay
        self.store.import_delay = import_delay
        self.latency = latency
        self.throttle.enabled = throttling
        if "throttleShare" in data or "throttleOperations" in data:
            self.throttle_share.configure(share, operations)
        self.fault_statuses = fault_statuses
        if {"faultShare", "faultStatuses", "faultOperations"} & set(data):
            self.fault_share.configure(fault_share, fault_operations)


def _number(value: object, name: str) -> float:
    """A finite, non-negative JSON number (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadKnob(f"{name} must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise BadKnob(f"{name} must be a finite number, 0 or more")
    return number


def _share(value: object, name: str) -> Fraction:
    number = _number(value, name)
    if number > 1:
        raise BadKnob(f"{name} must be between 0 and 1")
    # The decimal as written, not its binary approximation: 0.1 * 10 must be 1.
    return Fraction(repr(number))


def _fault_statuses(value: object) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(
            # Exactly an int: JSON's true is not a status.
            type(status) is int and status in _FAULTS
            for status in value
        )
    ):
        known = ", ".join(map(str, _FAULTS))
        raise BadKnob(f"faultStatuses must be a non-empty list of {known}")
    return tuple(value)


def _operation_names(value: object, name: str) -> frozenset[str] | None:
    """`null` means every operation; otherwise a list of HealthImaging operation names."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadKnob(f"{name} must be a list of operation names or null")
    known = set(spec.service_model().operation_names)
    unknown = sorted(set(value) - known)
    if unknown:
        raise BadKnob(f"Unknown operations in {name}: {', '.join(unknown)}")
    return frozenset(value)


def _sdk_attempt(environ: dict) -> dict[str, Any]:
    """botocore's retry headers: `amz-sdk-invocation-id`, the same on every attempt of one
    call, and `amz-sdk-request: attempt=2; max=3` (null where a client sends none)."""
    fields = dict(
        part.strip().partition("=")[::2]
        for part in environ.get("HTTP_AMZ_SDK_REQUEST", "").split(";")
    )
    numbers = {
        key: int(fields[name]) if fields.get(name, "").isdigit() else None
        for key, name in (("attempt", "attempt"), ("maxAttempts", "max"))
    }
    return {"invocationId": environ.get("HTTP_AMZ_SDK_INVOCATION_ID"), **numbers}


def _json(status: int, document: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def _error_response(
    status: int, code: str, message: str
) -> tuple[int, dict[str, str], bytes]:
    status, headers, payload = _json(status, {"__type": code, "message": message})
    headers["x-amzn-ErrorType"] = code
    return status, headers, payload

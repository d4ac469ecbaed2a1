"""The small family of HealthImaging failures the rest of the portal handles.

The gateway translates every botocore error into one of these, once. Each carries a message
written for the people using the portal, and the service's own code for logs and the API.
No error message here may carry patient data.
"""


class HealthImagingError(Exception):
    """Something went wrong talking to HealthImaging."""

    user_message = "HealthImaging could not complete the request."

    def __init__(self, detail: str = "", *, code: str = "") -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail
        self.code = code


class NotFound(HealthImagingError):
    user_message = (
        "HealthImaging has no such data store or image set, or it was deleted."
    )


class Conflict(HealthImagingError):
    user_message = (
        "The image set is busy with another change or has changed since you loaded it."
    )


class StaleVersion(Conflict):
    """The version a write was based on is no longer the latest one."""

    user_message = "The image set has changed since you loaded it."


class Locked(Conflict):
    """The image set is LOCKED by a write in progress (an update, copy or import)."""

    user_message = (
        "The image set is busy with another change. Try again when it is done."
    )


class InvalidRequest(HealthImagingError):
    user_message = "HealthImaging refused the request as invalid."


class AccessDenied(HealthImagingError):
    user_message = "The portal is not allowed to do this in HealthImaging."


class Throttled(HealthImagingError):
    user_message = "HealthImaging is receiving too many requests right now. Wait a moment and try again."


class QuotaExceeded(Throttled):
    """A service quota, not a rate: waiting does not help (an update over 10 KB, say)."""

    user_message = "HealthImaging refused the request: it exceeds a service quota."


class Unavailable(HealthImagingError):
    user_message = "HealthImaging can not be reached right now. Try again in a moment."

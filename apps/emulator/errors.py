"""The HealthImaging errors the emulator answers with, worded and coded as the service does.

Status codes come from the botocore model's error shapes; the wire layer turns each into an
`x-amzn-ErrorType` header plus a `{"message": ...}` body.
"""


class ServiceError(Exception):
    code = "InternalServerException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(ServiceError):
    code = "ValidationException"
    status = 400


class ServiceQuotaExceededException(ServiceError):
    code = "ServiceQuotaExceededException"
    status = 402


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"
    status = 403


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"
    status = 404


class ConflictException(ServiceError):
    code = "ConflictException"
    status = 409


class ThrottlingException(ServiceError):
    code = "ThrottlingException"
    status = 429


class InternalServerException(ServiceError):
    code = "InternalServerException"
    status = 500


class ServiceUnavailableException(ServiceError):
    """Not in the model: the 503 a front end answers when the service is overloaded, which
    botocore retries by its status alone (the fault knob sends it)."""

    code = "ServiceUnavailableException"
    status = 503


STALE_VERSION_MESSAGE = "Requested version(s) of ImageSet(s) is not the latest."

"""The one exception tree of mlharbor.

Every error a user can cause or see is a ``HarborError``. Each class carries a stable
``code`` and the HTTP ``status`` the API answers with, and also subclasses the builtin it
means, so library callers can catch ``LookupError`` or ``ValueError`` as usual::

    HarborError
    ├── InvalidInputError (ValueError)          422 invalid_input
    │   ├── UnsupportedFormatError               415 unsupported_format
    │   └── PayloadTooLargeError                 413 payload_too_large
    ├── NotFoundError (LookupError)              404 not_found
    ├── ConflictError                            409 conflict
    ├── AuthenticationError (PermissionError)    401 unauthenticated
    ├── PermissionDeniedError (PermissionError)  403 forbidden
    ├── UpstreamError (ConnectionError)          502 upstream_error
    └── JobError (RuntimeError)                  500 job_failed

The API maps the tree to ``application/problem+json`` in one handler; the CLI to an exit code
and one red line; the WebSocket to an error message.
"""

from __future__ import annotations

from typing import Any


class HarborError(Exception):
    """Base of every mlharbor error."""

    code: str = "error"
    status: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: code, message and any details."""
        return {"code": self.code, "message": self.message, **self.details}


class InvalidInputError(HarborError, ValueError):
    """The request or its data is wrong in a way the user can fix."""

    code = "invalid_input"
    status = 422


class UnsupportedFormatError(InvalidInputError):
    """A file of a kind mlharbor does not read."""

    code = "unsupported_format"
    status = 415


class PayloadTooLargeError(InvalidInputError):
    """An upload, download or request body over its limit."""

    code = "payload_too_large"
    status = 413


class NotFoundError(HarborError, LookupError):
    """A named thing (dataset, model, job, column...) does not exist."""

    code = "not_found"
    status = 404


class ConflictError(HarborError):
    """The request clashes with the current state (e.g. deleting a dataset in use)."""

    code = "conflict"
    status = 409


class AuthenticationError(HarborError, PermissionError):
    """No valid credentials were given."""

    code = "unauthenticated"
    status = 401


class PermissionDeniedError(HarborError, PermissionError):
    """The credentials lack the scope the action needs."""

    code = "forbidden"
    status = 403


class UpstreamError(HarborError, ConnectionError):
    """A remote source (a dataset URL, a cluster) failed or could not be reached."""

    code = "upstream_error"
    status = 502


class JobError(HarborError, RuntimeError):
    """A job failed for a reason that is not the user's input."""

    code = "job_failed"
    status = 500


ERRORS_BY_CODE: dict[str, type[HarborError]] = {
    cls.code: cls
    for cls in (
        HarborError,
        InvalidInputError,
        UnsupportedFormatError,
        PayloadTooLargeError,
        NotFoundError,
        ConflictError,
        AuthenticationError,
        PermissionDeniedError,
        UpstreamError,
        JobError,
    )
}

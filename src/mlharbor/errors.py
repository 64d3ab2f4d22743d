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
    ├── UpstreamError (ConnectionError)          502 upstream_error      (retryable)
    ├── StorageUnavailableError (OSError)        503 storage_unavailable
    │   └── StorageFullError                     507 storage_unavailable
    └── JobError (RuntimeError)                  500 job_failed
        ├── JobTimeoutError                      504 timeout
        └── WorkerLostError                      503 worker_lost   (retryable)

One serialiser crosses every boundary: :func:`error_to_dict` writes an error as
``{"code", "message", "status", "details"}`` and :func:`error_from_dict` reads that back as
the same class with the same details. The API's problem+json body, the WebSocket's error
reply, a failed job's ``error`` record and the Python client all use the pair, so one error
reads the same at every door; the CLI prints its message as one red line and exits with a
code for it. A job that raises one fails at once with its message, unless the class is
``retryable`` (another attempt may pass).
:func:`storage_error` turns the ``OSError`` of a full, read-only or forbidden disk into a
``StorageUnavailableError``, wherever it is caught.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any


class HarborError(Exception):
    """Base of every mlharbor error."""

    code: str = "error"
    status: int = 500
    #: Whether another attempt of the same job may pass (a remote that did not answer);
    #: other mlharbor errors are verdicts a retry would repeat.
    retryable: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error as :func:`error_to_dict` writes it."""
        return error_to_dict(self)


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
    retryable = True


class StorageUnavailableError(HarborError, OSError):
    """The artifact store or data folder refuses writes: read-only, or permission denied.

    Retrying does not help until an operator acts, so a job that meets it fails at once.
    ``errno`` is the original one, for callers that catch ``OSError``.
    """

    code = "storage_unavailable"
    status = 503

    def __init__(self, message: str, *, errno_: int | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.errno = errno_


class StorageFullError(StorageUnavailableError):
    """No space left, or over quota: 507 Insufficient Storage."""

    status = 507


class JobError(HarborError, RuntimeError):
    """A job failed for a reason that is not the user's input."""

    code = "job_failed"
    status = 500


class JobTimeoutError(JobError):
    """A job ran past its time limit and was stopped."""

    code = "timeout"
    status = 504


class WorkerLostError(JobError):
    """The process running a job died or went silent; the job is retried if it may be."""

    code = "worker_lost"
    status = 503
    retryable = True


#: Every class of the tree; :func:`error_from_dict` picks among them by code and status.
ERROR_CLASSES: tuple[type[HarborError], ...] = (
    HarborError,
    InvalidInputError,
    UnsupportedFormatError,
    PayloadTooLargeError,
    NotFoundError,
    ConflictError,
    AuthenticationError,
    PermissionDeniedError,
    UpstreamError,
    StorageUnavailableError,
    StorageFullError,
    JobError,
    JobTimeoutError,
    WorkerLostError,
)
#: code → the class it names (the first of the tree, for a code two classes share).
ERRORS_BY_CODE: dict[str, type[HarborError]] = {c.code: c for c in reversed(ERROR_CLASSES)}


def error_to_dict(exc: HarborError) -> dict[str, Any]:
    """An error as plain JSON: ``{"code", "message", "status", "details"}``.

    The one shape every door writes (problem+json, the WebSocket's error reply, a job's
    error record); :func:`error_from_dict` reads it back.

    Examples
    --------
    >>> error_to_dict(NotFoundError("dataset 'x' does not exist", dataset="x"))
    {'code': 'not_found', 'message': "dataset 'x' does not exist", 'status': 404, \
'details': {'dataset': 'x'}}
    """
    return {
        "code": exc.code,
        "message": exc.message,
        "status": exc.status,
        "details": dict(exc.details),
    }


def make_error(code: str, message: str, status: int | None = None, **details: Any) -> HarborError:
    """The error a ``code`` names: an instance of its class in the tree, or, for a code outside
    the tree (a protocol's own, such as the WebSocket's ``unknown_type``), a ``HarborError``
    that carries that code. A ``status`` other than the class's is kept on the instance.
    """
    cls = ERRORS_BY_CODE.get(code, HarborError)
    if status is not None:
        # Two classes may share a code (StorageFullError is a 507 storage_unavailable).
        cls = next((c for c in ERROR_CLASSES if c.code == code and c.status == status), cls)
    error = cls(message, **details)
    if error.code != code:
        error.code = code
    if status is not None and error.status != status:
        error.status = status
    return error


def error_from_dict(data: Mapping[str, Any]) -> HarborError:
    """The error :func:`error_to_dict` wrote: the same class, message and details.

    ``status`` and ``details`` may be missing (an error recorded before they were written);
    then the class's status and no details.

    Examples
    --------
    >>> exc = error_from_dict({"code": "not_found", "message": "no such model", "details": {}})
    >>> type(exc).__name__, exc.status
    ('NotFoundError', 404)
    """
    details = data.get("details") or {}
    if not isinstance(details, Mapping):
        details = {"details": details}
    status = data.get("status")
    return make_error(
        str(data.get("code") or HarborError.code),
        str(data.get("message") or ""),
        status if isinstance(status, int) else None,
        **{str(k): v for k, v in details.items()},
    )


#: errno → why the store refuses, for :func:`storage_error`.
STORAGE_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "quota_exceeded",
    errno.EROFS: "read_only",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
}
#: SQLite's SQLITE_FULL and SQLITE_READONLY, and PostgreSQL's disk_full SQLSTATE.
_SQLITE_CODES = {13: "no_space", 8: "read_only"}
_PG_DISK_FULL = "53100"
#: reason → what it means for the store, and what an operator does about it.
_REASONS = {
    "no_space": ("is full (no space left on the device)", "free space or give it a bigger volume"),
    "quota_exceeded": ("is over its disk quota", "free space or raise the quota"),
    "read_only": ("is read-only", "mount it read-write"),
    "permission_denied": (
        "does not let the server write (permission denied)",
        "give the server's user write access to it",
    ),
}


def _storage_reason(exc: BaseException) -> str | None:
    if isinstance(exc, OSError):
        return STORAGE_ERRNOS.get(exc.errno or 0)
    sqlite_code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return _SQLITE_CODES.get(sqlite_code & 0xFF)  # the primary code of an extended one
    return "no_space" if getattr(exc, "sqlstate", None) == _PG_DISK_FULL else None


def storage_error(
    exc: BaseException, where: str | None = None, doing: str = ""
) -> StorageUnavailableError | None:
    """The :class:`StorageUnavailableError` an error means, or ``None`` if another.

    Recognises the ``OSError`` of a full, over-quota, read-only or forbidden disk, and a
    database driver's "disk full" or "read-only database" (also wrapped by SQLAlchemy).

    Parameters
    ----------
    exc : BaseException
        The error caught.
    where : str, optional
        The store it happened in, as a user should read it ("the artifact store at /srv/a");
        default: the file the error names.
    doing : str, optional
        What was being done ("writing models/3/model.skops").

    Examples
    --------
    >>> full = storage_error(OSError(errno.ENOSPC, "No space left"), "the data folder")
    >>> full.status, full.code, full.details
    (507, 'storage_unavailable', {'reason': 'no_space'})
    """
    if isinstance(exc, HarborError):
        return None
    inner = getattr(exc, "orig", None)  # SQLAlchemy's wrapper of the driver's error
    exc = inner if isinstance(inner, BaseException) else exc
    reason = _storage_reason(exc)
    if reason is None:
        return None
    filename = getattr(exc, "filename", None)
    if where is None:
        where = f"the storage at {filename}" if filename else "the server's storage"
    meaning, fix = _REASONS[reason]
    during = f" while {doing}" if doing else ""
    message = f"{where} {meaning}{during}; {fix}"
    cls = StorageFullError if reason in ("no_space", "quota_exceeded") else StorageUnavailableError
    return cls(message, errno_=getattr(exc, "errno", None), reason=reason)

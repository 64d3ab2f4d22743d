"""One mapping from the error tree to ``application/problem+json`` (RFC 9457).

The body is RFC 9457's members (``type``, ``title``, ``status``, ``detail``) around the one
serialised error of :func:`mlharbor.errors.error_to_dict` (``code``, ``message``, ``status``,
``details``); each detail is repeated as a top-level extension member, as RFC 9457 has them
and as clients of earlier versions read them (``body["column"]``).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlharbor.errors import (
    HarborError,
    StorageUnavailableError,
    error_to_dict,
    make_error,
    storage_error,
)
from mlharbor.limits import MAX_ID

log = logging.getLogger("mlharbor.api")
PROBLEM = "application/problem+json"
#: PostgreSQL's SQLSTATE for a number that does not fit its column.
NUMERIC_OUT_OF_RANGE = "22003"
#: PostgreSQL cannot represent the character (NUL, as ``\\u0000`` in JSON).
UNTRANSLATABLE_CHARACTER = "22P05"
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    502: "Upstream error",
    503: "Unavailable",
    507: "Insufficient storage",
}


#: Members of the body that a detail of the same name must not overwrite.
RESERVED = frozenset(
    {"type", "title", "status", "detail", "instance", "code", "message", "details", "request_id"}
)


def problem_body(error: HarborError, request_id: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``error`` (see the module's docstring)."""
    data = error_to_dict(error)
    body: dict[str, Any] = {
        "type": f"https://mlharbor.dev/problems/{error.code}",
        "title": TITLES.get(error.status, "Error"),
        "detail": error.message,
        **data,
        **{k: v for k, v in data["details"].items() if k not in RESERVED},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(error: HarborError, request: Request | None = None) -> JSONResponse:
    """``error`` as a problem+json response with its own status."""
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    return JSONResponse(
        problem_body(error, request_id), status_code=error.status, media_type=PROBLEM
    )


def problem(
    status: int, detail: str, code: str, request: Request | None = None, **details: Any
) -> JSONResponse:
    """A problem+json response for an error named by its code (see :func:`make_error`)."""
    return problem_response(make_error(code, detail, status, **details), request)


def _validation_detail(errors: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    clean = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        clean.append({"field": ".".join(loc) or "body", "message": err.get("msg", "")})
    first = clean[0] if clean else {"field": "body", "message": "invalid request"}
    text = f"{first['field']}: {first['message']}"
    if len(clean) > 1:
        text += f" (and {len(clean) - 1} more)"
    return text, clean


def _refuses(folder: Path, errno_: int | None) -> bool:
    """Whether ``folder``'s file system shows the condition ``errno_`` names, right now."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    if errno_ in (errno.ENOSPC, errno.EDQUOT):
        return stat.f_bavail * stat.f_frsize < 64 * 1024
    if errno_ == errno.EROFS:
        return bool(stat.f_flag & os.ST_RDONLY)
    return not os.access(folder, os.W_OK)


def _where(request: Request, exc: OSError) -> str | None:
    """Which of the server's folders failed: the one the error names, else the one that
    shows the condition now (a write to an open file names no file); ``None`` if unknown."""
    hub = getattr(request.app.state, "hub", None)
    if hub is None:
        return None
    folders = {"the data folder": hub.settings.data_dir.resolve()}
    if hub.artifacts.is_local:
        folders["the artifact store"] = Path(hub.artifacts.root)
    for name, folder in folders.items():
        if exc.filename:
            if str(exc.filename).startswith(str(folder)):
                return f"{name} at {folder}"
        elif _refuses(folder, exc.errno):
            return f"{name} at {folder}"
    return None


def _holds_nul(exc: DataError) -> bool:
    """Whether PostgreSQL refused text for holding NUL (client-side in psycopg, or as JSON)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == UNTRANSLATABLE_CHARACTER or "NUL (0x00)" in str(exc.orig)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(HarborError)
    async def _harbor(request: Request, exc: HarborError) -> JSONResponse:
        if isinstance(exc, StorageUnavailableError):
            # Not the client's doing: the operator must act, so it goes to the log too.
            log.error("storage unavailable on %s: %s", request.url.path, exc.message)
        return problem_response(exc, request)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        # The net under the artifact store's own checks: a full, read-only or forbidden data
        # folder (uploads being received, exports) is a named 503/507, not an internal error.
        error = storage_error(exc, _where(request, exc))
        if error is None or request.scope["type"] != "http":
            raise exc  # on to the catch-all, as before this handler
        return await _harbor(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        text, errors = _validation_detail(list(exc.errors()))
        return problem(422, text, "invalid_input", request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # Only the framework raises a bare 400 (a body that is not JSON or multipart at
            # all); to a client that is invalid input like any other.
            return problem(
                422, f"the request body could not be parsed: {exc.detail}", "invalid_input", request
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, str(exc.detail), code, request)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # The body checks refuse deep JSON first; this is the net under them.
        return problem(422, "the input is nested too deeply to process", "invalid_input", request)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        # A database on a full or read-only disk; any other outage stays an internal error.
        error = storage_error(exc, "the metadata database")
        if error is None or request.scope["type"] != "http":
            raise exc  # on to the catch-all, as before this handler
        return await _harbor(request, error)

    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: DataError) -> JSONResponse:
        if _holds_nul(exc):
            # The middleware and the requests refuse NUL first; this is the net (a form field).
            return problem(
                422, "text in the request cannot hold a NUL character", "invalid_input", request
            )
        if getattr(exc.orig, "sqlstate", None) != NUMERIC_OUT_OF_RANGE:
            return await _unexpected(request, exc)
        # Ids and versions are checked against MAX_ID where they come in; this is the net.
        return problem(
            422,
            f"a number in the request is out of range: ids and versions are at most {MAX_ID:,}",
            "invalid_input",
            request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an internal error occurred; it has been logged", "internal", request)

"""ASGI middleware: request ids, and bounds on requests (body size, JSON depth, NUL text)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlharbor.api.observability import request_id_var
from mlharbor.api.problems import PROBLEM, problem_body
from mlharbor.config import Settings
from mlharbor.errors import make_error
from mlharbor.limits import INLINE_PARSE_BYTES, depth_error, json_depth_over

#: Routes that read their own body and check its depth as they parse it (prediction, in
#: its own shapes and MLflow's errors): their bodies are streamed to them, not read here.
SELF_PARSING = ("/predict", "/invocations")
#: A JSON string escape of the NUL character that is not itself an escaped backslash.
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
#: The wording for text holding NUL: PostgreSQL cannot store it, and no name has a use for it.
NUL_TEXT = "cannot hold a NUL character (\\u0000 or %00): no name, reference or option can"
#: The upload limit allows this much more for the multipart framing around the file.
FRAMING = 1 << 20


#: The routes that take a file upload (multipart): they alone may send MLHARBOR_MAX_UPLOAD_BYTES.
#: A table, not a look at each route, because the router does not expose its routes to a
#: middleware; tests/security/test_request_bounds.py checks it against every multipart
#: operation of the OpenAPI document.
UPLOAD_PATHS = re.compile(
    r"/api/v1/datasets"
    r"|/api/v1/models/[^/]+/versions"
    r"|/api/v1/models/[^/]+/[^/]+/score/upload"
    r"|/train|/predict"  # the Mini-ML platform's forms
)


def is_upload(method: str, path: str) -> bool:
    """Whether ``method path`` is a route that takes a file upload."""
    return method == "POST" and UPLOAD_PATHS.fullmatch(path) is not None


def _is_json(headers: dict[bytes, bytes]) -> bool:
    """Whether a body is JSON to the framework: no content type (FastAPI parses those as JSON
    too), ``application/json`` or any ``+json`` type."""
    ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return not ctype or ctype == b"application/json" or ctype.endswith(b"+json")


class BodyLimitMiddleware:
    """Bound each request's body before any route parses it.

    File uploads (:data:`UPLOAD_PATHS`) may send ``max_upload_bytes``; every other
    body (JSON, CSV, forms) ``max_json_body_bytes``, so that a prediction cannot be as large as
    an upload. Over the limit, declared or streamed, is a 413 naming the limit and its
    setting. A JSON body is read whole (it is bounded) and refused with 422 when nested deeper
    than ``max_json_depth``, by a scan that runs in a worker thread when the body is big.
    Uploads are streamed through untouched.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.json_limit = settings.max_json_body_bytes
        self.upload_limit = settings.max_upload_bytes
        self.max_depth = settings.max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            await _problem(send, scope, 422, "invalid_input", f"the request's address {NUL_TEXT}")
            return
        upload = is_upload(scope.get("method", ""), path)
        limit = self.upload_limit + FRAMING if upload else self.json_limit
        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
            await self._reject(send, scope, upload)
            return
        if (
            not upload
            and _is_json(headers)
            and scope.get("method") not in ("GET", "HEAD")
            and not path.endswith(SELF_PARSING)
        ):
            await self._checked_json(scope, receive, send, limit)
            return
        seen = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now and tell the app the client went away, so it stops reading
                    # (raising here would be turned into a 400 by the body parser).
                    rejected = True
                    if not started:
                        await self._reject(send, scope, upload)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    async def _checked_json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Read a (bounded) JSON body whole, check its depth, then hand it to the app."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)  # the client left
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._reject(send, scope, False)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > INLINE_PARSE_BYTES:
            too_deep = await anyio.to_thread.run_sync(json_depth_over, body, self.max_depth)
        else:
            too_deep = json_depth_over(body, self.max_depth)
        if too_deep:
            error = depth_error(self.max_depth)
            await _problem(send, scope, 422, error.code, error.message, max_depth=self.max_depth)
            return
        if JSON_NUL.search(body):
            await _problem(send, scope, 422, "invalid_input", f"the JSON body {NUL_TEXT}")
            return
        request = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([request], receive), send)

    async def _reject(self, send: Send, scope: Scope, upload: bool) -> None:
        if upload:
            limit, setting, what = self.upload_limit, "MLHARBOR_MAX_UPLOAD_BYTES", "file uploads"
        else:
            limit, setting = self.json_limit, "MLHARBOR_MAX_JSON_BODY_BYTES"
            what = "requests that are not file uploads"
        detail = f"the request body is over the limit of {limit:,} bytes for {what} ({setting})"
        await _problem(send, scope, 413, "payload_too_large", detail, limit=limit)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` first, then what the client sends next."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _problem(
    send: Send, scope: Scope, status: int, code: str, detail: str, **extra: Any
) -> None:
    """Answer with problem+json before the app has seen the request (MLflow's error shape on
    its scoring route, ``/invocations``)."""
    request_id = scope.get("state", {}).get("request_id")
    body = problem_body(make_error(code, detail, status, **extra), request_id)
    ctype = PROBLEM
    if scope["path"].endswith("/invocations"):
        body, ctype = {"error_code": "BAD_REQUEST", "message": detail}, "application/json"
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestIdMiddleware:
    """Give every request an id (or keep the client's ``X-Request-ID``) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = given if given and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, with_id)
        finally:
            request_id_var.reset(token)

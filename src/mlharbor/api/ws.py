"""The ML-Hub WebSocket at ``/ws``: JSON events in, JSON replies out.

Every message is a JSON object with a ``type``. Each gets one reply carrying the request's
``id`` if it had one: ``{"type": "<type>", "ok": true, ...}`` or, for anything wrong,
``{"type": "error", "ok": false, "error": {"code", "message", "status", "details"},
"request_type": ...}``, the error written by :func:`mlharbor.errors.error_to_dict` as the
REST API and job records write it. The connection stays open after an error. Nothing is
ever pickled: replies are plain JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from mlharbor.api.auth import NEEDS_TRAIN
from mlharbor.errors import (
    HarborError,
    InvalidInputError,
    PayloadTooLargeError,
    error_to_dict,
    make_error,
)
from mlharbor.hub import Hub
from mlharbor.limits import INLINE_PARSE_BYTES, check_json_depth, depth_error

log = logging.getLogger("mlharbor.ws")
router = APIRouter()

Handler = Callable[[Hub, dict[str, Any], WebSocket], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def event(name: str, *aliases: str) -> Callable[[Handler], Handler]:
    """Register the handler of a message type."""

    def register(fn: Handler) -> Handler:
        for key in (name, *aliases):
            HANDLERS[key] = fn
        return fn

    return register


def blocking(fn: Callable[..., dict[str, Any]]) -> Handler:
    """Run a synchronous handler in a worker thread, off the event loop."""

    async def run(hub: Hub, msg: dict[str, Any], ws: WebSocket) -> dict[str, Any]:
        return await run_in_threadpool(fn, hub, msg)

    return run


def error_reply(error: HarborError, request: dict[str, Any] | None) -> dict[str, Any]:
    """The reply to a message that failed with ``error``."""
    reply: dict[str, Any] = {"type": "error", "ok": False, "error": error_to_dict(error)}
    if request:
        if "id" in request:
            reply["id"] = request["id"]
        if isinstance(request.get("type"), str):
            reply["request_type"] = request["type"]
    return reply


def _parse(raw: str, max_depth: int) -> Any:
    """A message's JSON, refused (``InvalidInputError``) when nested deeper than allowed."""
    check_json_depth(raw, max_depth)
    try:
        return json.loads(raw)
    except RecursionError:
        raise depth_error(max_depth) from None


async def handle(hub: Hub, raw: str, ws: WebSocket) -> dict[str, Any]:
    """Answer one message: parse, dispatch, and turn any error into an error reply."""
    limit = hub.settings.max_ws_message_bytes
    size = len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
    if size > limit:
        too_large = PayloadTooLargeError(
            f"the message has {size:,} bytes; the limit is {limit:,} "
            "(setting MLHARBOR_MAX_WS_MESSAGE_BYTES)",
            limit=limit,
        )
        return error_reply(too_large, None)
    try:
        if len(raw) > INLINE_PARSE_BYTES:
            # Off the event loop, so that other sockets and requests are answered meanwhile.
            msg = await run_in_threadpool(_parse, raw, hub.settings.max_json_depth)
        else:
            msg = _parse(raw, hub.settings.max_json_depth)
    except HarborError as exc:
        return error_reply(exc, None)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        message = f"the message is not valid JSON: {exc.msg} ({where})"
        return error_reply(make_error("invalid_json", message, 422), None)
    if not isinstance(msg, dict):
        message = "a message must be a JSON object with a 'type'"
        return error_reply(make_error("invalid_message", message, 422), None)
    kind = msg.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        known = ", ".join(sorted(HANDLERS))
        what = f"unknown message type {kind!r}" if kind is not None else "the message has no 'type'"
        unknown = make_error("unknown_type", f"{what}; known types: {known}", 422)
        return error_reply(unknown, msg)
    try:
        reply = await handler(hub, msg, ws)
    except HarborError as exc:
        return error_reply(exc, msg)
    except Exception:
        log.exception("websocket handler %s failed", kind)
        internal = make_error("internal", "an internal error occurred; it has been logged", 500)
        return error_reply(internal, msg)
    reply = {"type": kind, "ok": True, **reply}
    if "id" in msg:
        reply["id"] = msg["id"]
    return reply


@router.websocket("/ws", dependencies=NEEDS_TRAIN)
async def websocket(ws: WebSocket) -> None:
    """The ML-Hub event protocol."""
    await ws.accept()
    hub: Hub = ws.app.state.hub
    ws.state.send_lock = asyncio.Lock()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                try:
                    raw = (message.get("bytes") or b"").decode("utf-8")
                except UnicodeDecodeError:
                    bad = make_error("invalid_json", "a binary message must be UTF-8 JSON", 422)
                    await send(ws, error_reply(bad, None))
                    continue
            await send(ws, await handle(hub, raw, ws))
    except WebSocketDisconnect:
        return
    finally:
        for task in list(ws.state.__dict__.get("forwarders", ())):
            task.cancel()


async def send(ws: WebSocket, message: dict[str, Any]) -> None:
    """Send one JSON message; replies and streamed job events never interleave mid-frame."""
    async with ws.state.send_lock:
        await ws.send_json(message)


def require(msg: dict[str, Any], field: str, kind: type | tuple[type, ...]) -> Any:
    """A field of a message, checked for presence and type."""
    if field not in msg:
        raise InvalidInputError(f"the {msg.get('type')!r} message needs a {field!r} field")
    value = msg[field]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InvalidInputError(f"field {field!r} must be {names}, not {type(value).__name__}")
    return value

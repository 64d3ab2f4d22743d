"""Who may call what: one policy maps every route to the scope it needs.

With auth off (the default), the server answers anyone, and ``mlharbor serve`` refuses to
bind anything but loopback unless told ``--insecure``. With auth on, every non-public route
needs an API key (``Authorization: Bearer …`` or ``X-API-Key: …``) holding its scope.
"""

from __future__ import annotations

from fastapi import Request, WebSocket
from starlette.requests import HTTPConnection

from mlharbor.errors import AuthenticationError, PermissionDeniedError
from mlharbor.keys import KeyInfo, Scope

PUBLIC = {
    "/healthz",
    "/readyz",
    "/ping",
    "/health",
    "/version",
    "/api/v1",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
}
PREDICT_MARKERS = ("/predict", "/invocations")


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a request needs, or ``None`` for a public route."""
    if path in PUBLIC or path.startswith("/static/"):
        return None
    if path.startswith("/api/v1/keys"):
        return Scope.ADMIN
    if any(marker in path for marker in PREDICT_MARKERS):
        return Scope.PREDICT
    if path in ("/train", "/ws"):
        return Scope.TRAIN
    if method in ("GET", "HEAD", "OPTIONS"):
        return Scope.READ
    return Scope.TRAIN


def _token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key") or None


def check(conn: Request | WebSocket, method: str) -> KeyInfo | None:
    """Authorise a request or WebSocket; raise 401/403 errors that say what is missing."""
    hub = conn.app.state.hub
    if not hub.settings.auth_enabled:
        return None
    scope = required_scope(method, conn.url.path)
    if scope is None:
        return None
    token = _token({k.lower(): v for k, v in conn.headers.items()})
    if token is None and isinstance(conn, WebSocket):
        token = conn.query_params.get("api_key")
    if not token:
        raise AuthenticationError(
            f"this server needs an API key with scope {scope.value!r}: send "
            "'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    key = hub.keys.verify(token)
    if not key.allows(scope):
        raise PermissionDeniedError(
            f"the API key {key.name!r} has scopes {[s.value for s in key.scopes]}; "
            f"this needs {scope.value!r}"
        )
    conn.state.api_key = key
    return key


async def authorize(conn: HTTPConnection) -> None:
    """App-wide dependency: enforce the policy on every HTTP route.

    WebSocket routes check for themselves, so that they can close with a 44xx code.
    """
    if conn.scope["type"] == "http":
        check(conn, conn.scope["method"])  # type: ignore[arg-type]

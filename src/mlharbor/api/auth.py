"""Who may call what: one policy maps every route to the scope it needs.

With auth off (the default), the server answers anyone, and ``mlharbor serve`` refuses to
bind anything but loopback unless told ``--insecure``. With auth on, every non-public route
needs an API key (``Authorization: Bearer …`` or ``X-API-Key: …``) holding its scope.

The web UI signs a browser in by storing the same key in an HttpOnly, SameSite=Strict
cookie; the policy below applies to it unchanged. A request authenticated by that cookie
must also carry a header a cross-site form cannot send (``HX-Request``, as htmx sends, or
``X-Requested-With``) when it changes anything, and a WebSocket must come from this origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

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
    "/sign-in",
    "/ui/session",
}
#: Ground-truth labels come from the same clients as the predictions they label.
PREDICT_ENDPOINTS = ("predict", "invocations", "labels")
ADMIN_PAGES = ("/settings",)
#: The cookie the web UI keeps the signed-in key in.
SESSION_COOKIE = "mlharbor_key"
#: Headers that prove a cookie-authenticated request came from our own scripts.
SCRIPT_HEADERS = ("hx-request", "x-requested-with")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a request needs, or ``None`` for a public route."""
    if path in PUBLIC or path.startswith("/static/"):
        return None
    if path.startswith("/api/v1/keys") or path in ADMIN_PAGES:
        return Scope.ADMIN
    if _is_prediction(path):
        return Scope.PREDICT
    if path in ("/train", "/ws"):
        return Scope.TRAIN
    if method in SAFE_METHODS:
        return Scope.READ
    return Scope.TRAIN


def _is_prediction(path: str) -> bool:
    # Match the endpoint segment only: a dataset named "predictions" is still read with `read`.
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last in PREDICT_ENDPOINTS and (
        path.startswith("/api/v1/models/") or path in ("/predict", "/invocations")
    )


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
    headers = {k.lower(): v for k, v in conn.headers.items()}
    token = _token(headers)
    if token is None and isinstance(conn, WebSocket):
        token = conn.query_params.get("api_key")
    if token is None and conn.cookies.get(SESSION_COOKIE):
        token = conn.cookies[SESSION_COOKIE]
        _check_same_site(conn, method, headers)
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


def _check_same_site(conn: Request | WebSocket, method: str, headers: dict[str, str]) -> None:
    """Refuse what a cross-site page could make a signed-in browser send."""
    if isinstance(conn, WebSocket):
        origin = urlsplit(headers.get("origin", "")).netloc
        if origin != headers.get("host"):
            raise PermissionDeniedError(
                "a WebSocket signed in by the browser session must come from this site"
            )
    elif method not in SAFE_METHODS and not any(h in headers for h in SCRIPT_HEADERS):
        raise PermissionDeniedError(
            "a change made with the browser session cookie must carry an 'HX-Request' or "
            "'X-Requested-With' header (cross-site request protection); API clients send "
            "their key in 'Authorization' or 'X-API-Key' instead"
        )


async def authorize(conn: HTTPConnection) -> None:
    """App-wide dependency: enforce the policy on every HTTP route.

    WebSocket routes check for themselves, so that they can close with a 44xx code.
    """
    if conn.scope["type"] == "http":
        check(conn, conn.scope["method"])  # type: ignore[arg-type]

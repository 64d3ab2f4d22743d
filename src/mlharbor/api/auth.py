"""Who may call what: each route declares the scope it needs where it is defined.

A route says ``dependencies=[Depends(require(Scope.PREDICT))]`` (or its router does), and a
public route says ``dependencies=[Depends(public)]``. The scope belongs to the route, so no
name a user picks (a model called ``predict``, an alias called ``labels``) can change it. The
app-wide dependency :func:`authorize` refuses any route that declares nothing (fail closed).

With auth off (the default), the server answers anyone, and ``mlharbor serve`` refuses to
bind anything but loopback unless told ``--insecure``. With auth on, every non-public route
needs an API key (``Authorization: Bearer …`` or ``X-API-Key: …``) holding its scope.

The web UI signs a browser in with a session: the cookie holds a random session id (never
the key), stored hashed with its expiry; signing out or revoking the key ends it. A request
authenticated by that cookie must also carry a header a cross-site form cannot send
(``HX-Request``, as htmx sends, or ``X-Requested-With``) when it changes anything, and a
WebSocket must come from this origin. Cross-site requests are refused before any of this by
:mod:`mlharbor.api.origin`, auth on or off.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from fastapi import Depends, WebSocket
from fastapi.dependencies.models import Dependant
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

from mlharbor.api.origin import is_loopback, request_scheme
from mlharbor.config import Settings
from mlharbor.errors import AuthenticationError, HarborError, PermissionDeniedError
from mlharbor.keys import KeyInfo, Scope

#: The cookie the web UI keeps the session id in.
SESSION_COOKIE = "mlharbor_session"
#: Headers that prove a cookie-authenticated request came from our own scripts.
SCRIPT_HEADERS = ("hx-request", "x-requested-with")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ScopeCheck:
    """The dependency a route declares: the scope it needs (``None``: public)."""

    def __init__(self, scope: Scope | None) -> None:
        self.scope = scope

    def __repr__(self) -> str:
        return f"require({self.scope.value})" if self.scope else "public"

    async def __call__(self, conn: HTTPConnection) -> None:
        if self.scope is not None:
            scope = self.scope
            await _enforce(conn, lambda: check(conn, scope))


@cache
def require(scope: Scope) -> ScopeCheck:
    """The dependency of a route that needs ``scope``."""
    return ScopeCheck(scope)


#: The dependency of a route anyone may call.
public = ScopeCheck(None)


def declared_scopes(dependant: Dependant) -> list[ScopeCheck]:
    """The scope checks a route's dependencies declare (its router's included)."""
    found = [dependant.call] if isinstance(dependant.call, ScopeCheck) else []
    for sub in dependant.dependencies:
        found.extend(declared_scopes(sub))
    return found


def _token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key") or None


def check(conn: HTTPConnection, scope: Scope) -> KeyInfo | None:
    """Authorise a request or WebSocket for ``scope``; 401/403 errors say what is missing."""
    hub = conn.app.state.hub
    if not hub.settings.auth_enabled:
        return None
    method = conn.scope.get("method", "GET")
    headers = {k.lower(): v for k, v in conn.headers.items()}
    token = _token(headers)
    if token is None and conn.scope["type"] == "websocket":
        token = conn.query_params.get("api_key")
    if token:
        key = hub.keys.verify(token)
    elif conn.cookies.get(SESSION_COOKIE):
        _check_same_site(conn, method, headers)
        key = hub.keys.verify_session(conn.cookies[SESSION_COOKIE])
    else:
        raise AuthenticationError(
            f"this server needs an API key with scope {scope.value!r}: send "
            "'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    if not key.allows(scope):
        raise PermissionDeniedError(
            f"the API key {key.name!r} has scopes {[s.value for s in key.scopes]}; "
            f"this needs {scope.value!r}"
        )
    conn.state.api_key = key
    return key


def _check_same_site(conn: HTTPConnection, method: str, headers: dict[str, str]) -> None:
    """Refuse what a cross-site page could make a signed-in browser send."""
    if conn.scope["type"] == "websocket":
        # Browsers always name the page's origin on a WebSocket, and the door
        # (api/origin.py) refused any but ours.
        if not headers.get("origin"):
            raise PermissionDeniedError(
                "a WebSocket signed in by the browser session must come from this site"
            )
    elif method not in SAFE_METHODS and not any(h in headers for h in SCRIPT_HEADERS):
        raise PermissionDeniedError(
            "a change made with the browser session cookie must carry an 'HX-Request' or "
            "'X-Requested-With' header (cross-site request protection); API clients send "
            "their key in 'Authorization' or 'X-API-Key' instead"
        )


async def _enforce(conn: HTTPConnection, decide: Callable[[], object]) -> None:
    """Run a check; a refused WebSocket is accepted then closed with 4401/4403.

    Accepting first lets the client read why: a refused handshake is a bare HTTP 403.
    """
    try:
        decide()
    except HarborError as exc:
        if not isinstance(conn, WebSocket):
            raise
        await conn.accept()
        code = 4401 if exc.status == 401 else 4403
        raise WebSocketException(code=code, reason=exc.message[:120]) from exc


def _declares_a_scope(conn: HTTPConnection) -> None:
    route = conn.scope.get("route")
    declared = getattr(route, "_declared_scopes", None)
    if declared is None and route is not None and hasattr(route, "dependant"):
        # Read once per route: this runs before every prediction.
        declared = route._declared_scopes = declared_scopes(route.dependant)
    if not declared:
        raise PermissionDeniedError(
            f"the route {getattr(route, 'path', conn.url.path)!r} declares no scope, so it "
            "is refused to everyone (a server bug: report it)"
        )


async def authorize(conn: HTTPConnection) -> None:
    """App-wide dependency: refuse a route that declares no scope (fail closed).

    Each route's own :func:`require` (or :data:`public`) dependency does the checking.
    """
    await _enforce(conn, lambda: _declares_a_scope(conn))


def cookie_is_secure(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether the session cookie must be ``Secure``.

    Yes when the request came over https, when a trusted TLS proxy says it did, and when the
    server is reachable beyond loopback (where plain http would expose the cookie).
    """
    if request_scheme(conn.scope, settings) == "https" or not is_loopback(settings.host):
        return True
    server = conn.scope.get("server")
    return server is not None and not is_loopback(str(server[0]))


#: What a route declares, as ``dependencies=NEEDS_READ``: the scope it needs, or that anyone
#: may call it (``PUBLIC``).
PUBLIC = (Depends(public),)
NEEDS_READ = (Depends(require(Scope.READ)),)
NEEDS_PREDICT = (Depends(require(Scope.PREDICT)),)
NEEDS_TRAIN = (Depends(require(Scope.TRAIN)),)
NEEDS_ADMIN = (Depends(require(Scope.ADMIN)),)

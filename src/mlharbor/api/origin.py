"""Trust at the door: the host names the server answers to, and the sites that may act.

Two checks, before any route runs, whether auth is on or off:

- **Host.** A request must name a host this server answers to: loopback names, the
  configured ``MLHARBOR_HOST`` (unless it is a wildcard such as ``0.0.0.0``) and
  ``MLHARBOR_ALLOWED_HOSTS`` (``"*"``: any). Otherwise a page whose own name an attacker
  points at 127.0.0.1 (DNS rebinding) would be "same-origin" with this server.
- **Origin.** A browser sends a cross-site ``<form>`` post, a multipart upload or a
  ``text/plain`` fetch without asking first (no CORS preflight). So every request that
  changes something or runs a model (any method but GET/HEAD/OPTIONS) and every WebSocket
  upgrade that carries an ``Origin`` must come from this server's own origin or one of
  ``MLHARBOR_CORS_ORIGINS``; without ``Origin``, a ``Sec-Fetch-Site`` of ``cross-site`` or
  ``same-site`` is refused too. The CLI, the Python client, curl and MLflow send neither
  header and pass, as do the UI's own scripts (their ``Origin`` is this server's).

With ``MLHARBOR_TRUST_PROXY_HEADERS``, a TLS-terminating proxy's ``X-Forwarded-Proto`` and
``X-Forwarded-Host`` stand for the scheme and host name the browser used.

A refused request gets problem+json naming why; a refused WebSocket is accepted and closed
with 4400/4403 and the reason, as the auth policy does.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mlharbor.api.problems import problem_body
from mlharbor.config import Settings
from mlharbor.errors import make_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or name."""
    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def request_scheme(scope: Scope, settings: Settings) -> str:
    """``http`` or ``https`` as the browser sees it (a trusted proxy's header counts)."""
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    if settings.trust_proxy_headers:
        forwarded = Headers(scope=scope).get("x-forwarded-proto", "")
        forwarded = forwarded.split(",")[0].strip().lower()
        if forwarded in DEFAULT_PORTS:
            return forwarded
    return scheme


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without port, brackets or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The host names this server answers to (``"*"`` among them: any)."""
    names = set(LOOPBACK_NAMES)
    if settings.host.strip().lower() not in WILDCARD_BINDS:
        names.add(host_name(settings.host))
    names.update("*" if h.strip() == "*" else host_name(h) for h in settings.allowed_hosts)
    return frozenset(names)


def _netloc(origin: str) -> tuple[str, str] | None:
    """An origin's scheme and ``host[:port]`` as a browser writes its ``Host`` header."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if port is not None and port == DEFAULT_PORTS[parts.scheme]:
        netloc = netloc.rsplit(":", 1)[0]
    return parts.scheme, netloc


class OriginMiddleware:
    """Refuse requests to host names we do not serve and cross-site changes (see module)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = allowed_hosts(settings)
        self.origins = {o.strip().rstrip("/").lower() for o in settings.cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, detail = refusal
        if scope["type"] == "websocket":
            await receive()  # the websocket.connect message
            await send({"type": "websocket.accept"})
            close = 4400 if status == 400 else 4403
            await send({"type": "websocket.close", "code": close, "reason": detail[:120]})
            return
        await _problem(scope, send, status, code, detail)

    def refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """Why a request is refused, as (status, code, detail), or ``None``."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if self.settings.trust_proxy_headers and headers.get("x-forwarded-host"):
            # The name the browser used, when a trusted proxy rewrote Host.
            host = headers["x-forwarded-host"].split(",")[0].strip()
        if host is not None and "*" not in self.hosts and host_name(host) not in self.hosts:
            return (
                400,
                "host_not_allowed",
                f"this server does not answer to the host name {host_name(host)!r} (a guard "
                "against DNS rebinding); add it to MLHARBOR_ALLOWED_HOSTS to serve it",
            )
        if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if self._is_trusted(origin, host, scope):
                return None
            return (
                403,
                "cross_origin",
                f"a browser page from another site ({origin[:100]}) may not change anything "
                "here or run a model; only this server's own pages may (or a site listed in "
                "MLHARBOR_CORS_ORIGINS)",
            )
        fetch_site = headers.get("sec-fetch-site", "").lower()
        if fetch_site in ("cross-site", "same-site"):
            return (
                403,
                "cross_origin",
                f"a browser request from another site (Sec-Fetch-Site: {fetch_site}) may not "
                "change anything here or run a model",
            )
        return None

    def _is_trusted(self, origin: str, host: str | None, scope: Scope) -> bool:
        if "*" in self.origins or origin.strip().rstrip("/").lower() in self.origins:
            return True
        parsed = _netloc(origin)
        if parsed is None or host is None:
            return False
        scheme, netloc = parsed
        if request_scheme(scope, self.settings) == "https" and scheme != "https":
            return False
        return netloc == host.strip().lower()


async def _problem(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
    request_id = scope.get("state", {}).get("request_id")
    data = json.dumps(problem_body(make_error(code, detail, status), request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})

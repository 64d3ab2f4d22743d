"""Settings (API keys) and the browser session: sign in with a key, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from mlharbor.api.auth import SESSION_COOKIE, cookie_is_secure, public, require
from mlharbor.api.deps import HubDep
from mlharbor.errors import InvalidInputError
from mlharbor.keys import Scope
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)
SCOPES = (
    (Scope.READ.value, "see datasets, insights, jobs and models"),
    (Scope.PREDICT.value, "call models"),
    (Scope.TRAIN.value, "upload data, train, promote"),
    (Scope.ADMIN.value, "everything, including keys"),
)


@router.get("/settings", response_class=HTMLResponse, dependencies=[Depends(require(Scope.ADMIN))])
def settings_page(request: Request, hub: HubDep) -> HTMLResponse:
    """API keys: create, list, revoke (admins only)."""
    return page(request, "settings.html", section="settings", keys=hub.keys.list(), scopes=SCOPES)


@router.get("/sign-in", response_class=HTMLResponse, dependencies=[Depends(public)])
def sign_in_page(request: Request, next: str = "/datasets") -> HTMLResponse:
    """The sign-in form."""
    return page(request, "sign_in.html", next=safe_next(next))


def safe_next(target: str) -> str:
    """A local path to go to after signing in (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/datasets"
    return target


class SessionCreate(BaseModel):
    key: str = Field(min_length=1, max_length=512)


@router.post("/ui/session", status_code=204, dependencies=[Depends(public)])
def sign_in(request: Request, hub: HubDep, body: SessionCreate) -> Response:
    """Check a key and start a session: its random id goes in an HttpOnly, SameSite=Strict
    cookie (never the key), ``Secure`` whenever the browser reaches us over https."""
    if not any(h in request.headers for h in ("hx-request", "x-requested-with")):
        # Only our own script sends this header: no other site can sign a browser in.
        raise InvalidInputError(
            "sign in from the sign-in page (the request lacks an 'X-Requested-With' header)"
        )
    key = hub.keys.verify(body.key.strip())
    ttl = hub.settings.session_ttl_seconds
    response = Response(status_code=204)
    response.set_cookie(
        SESSION_COOKIE,
        hub.keys.start_session(key, ttl),
        max_age=int(ttl),
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request, hub.settings),
        path="/",
    )
    response.headers["X-Signed-In-As"] = key.name
    return response


@router.delete("/ui/session", status_code=204, dependencies=[Depends(public)])
def sign_out(request: Request, hub: HubDep) -> Response:
    """End the browser's session (its id is refused from now on) and forget the cookie."""
    if request.cookies.get(SESSION_COOKIE):
        hub.keys.end_session(request.cookies[SESSION_COOKIE])
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request, hub.settings),
    )
    return response

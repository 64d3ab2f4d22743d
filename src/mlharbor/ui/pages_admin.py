"""Settings (API keys) and the browser session: sign in with a key, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from mlharbor.api.auth import SESSION_COOKIE
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
#: How long a browser stays signed in; the key itself stays valid until revoked.
SESSION_SECONDS = 12 * 3600


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, hub: HubDep) -> HTMLResponse:
    """API keys: create, list, revoke (admins only; the policy in api/auth.py says so)."""
    return page(request, "settings.html", section="settings", keys=hub.keys.list(), scopes=SCOPES)


@router.get("/sign-in", response_class=HTMLResponse)
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


@router.post("/ui/session", status_code=204)
def sign_in(request: Request, hub: HubDep, body: SessionCreate) -> Response:
    """Check a key and keep it in an HttpOnly, SameSite=Strict cookie."""
    if not any(h in request.headers for h in ("hx-request", "x-requested-with")):
        # Only our own script sends this header: no other site can sign a browser in.
        raise InvalidInputError(
            "sign in from the sign-in page (the request lacks an 'X-Requested-With' header)"
        )
    key = hub.keys.verify(body.key.strip())
    response = Response(status_code=204)
    response.set_cookie(
        SESSION_COOKIE,
        body.key.strip(),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.headers["X-Signed-In-As"] = key.name
    return response


@router.delete("/ui/session", status_code=204)
def sign_out() -> Response:
    """Forget the browser's key."""
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response

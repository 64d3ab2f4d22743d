"""Templates, formatting filters and the page context shared by every UI route."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from mlharbor import __version__
from mlharbor.keys import Scope

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def human_bytes(n: float | None) -> str:
    """``1536`` → ``1.5 KB``."""
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_number(value: Any, digits: int = 4) -> str:
    """Integers with thousands separators, floats with ``digits`` significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if abs(value) < 1e-12:  # rounding noise, e.g. the spread of identical fold scores
            return "0"
        if abs(value) >= 1e15 or abs(value) < 1e-3:
            return f"{value:.{digits - 1}e}"
        if abs(value) >= 1000:  # whole digits are what matters: 416,800 not 4.168e+05
            return f"{value:,.{max(0, digits - len(str(int(abs(value)))))}f}"
        return f"{value:.{digits}g}"
    return str(value)


def percent(value: float | None) -> str:
    """``0.1234`` → ``12.3%``; ``0.5`` → ``50%`` (a threshold of 50.0% reads as measured)."""
    if value is None:
        return "–"
    return f"{100 * value:.1f}".removesuffix(".0") + "%"


def when(value: datetime | str | None) -> str:
    """A timestamp as ``2026-01-31 14:05 UTC``."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def to_json(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">``."""
    text = json.dumps(value, default=str, allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def slug(value: Any) -> str:
    """A column name as an HTML id fragment: ``mean radius`` → ``mean-radius``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-") or "column"


def capitalize_first(value: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` lowers column names)."""
    return value[:1].upper() + value[1:]


templates.env.filters.update(
    bytes=human_bytes, num=human_number, pct=percent, when=when, tojson_script=to_json
)
templates.env.filters.update(slug=slug, capitalize_first=capitalize_first)
templates.env.globals["version"] = __version__

NAV = (
    ("datasets", "Datasets", "/datasets"),
    ("models", "Models", "/models"),
    ("scoring", "Scoring", "/scoring"),
    ("pipelines", "Pipelines", "/pipelines"),
    ("jobs", "Jobs", "/jobs"),
)


def viewer(request: Request) -> dict[str, Any]:
    """Who is looking: whether auth is on, the signed-in key and what it may do."""
    hub = request.app.state.hub
    key = getattr(request.state, "api_key", None)
    enabled = hub.settings.auth_enabled

    def can(scope: Scope) -> bool:
        return not enabled or (key is not None and key.allows(scope))

    return {
        "auth": enabled,
        "key": key,
        "can_train": can(Scope.TRAIN),
        "can_predict": can(Scope.PREDICT),
        "is_admin": can(Scope.ADMIN),
    }


def page(
    request: Request, template: str, *, section: str = "", status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a full page or an htmx fragment with the shared context."""
    who = viewer(request)
    nav = list(NAV)
    if who["is_admin"]:
        nav.append(("settings", "Settings", "/settings"))
    return templates.TemplateResponse(
        request,
        template,
        {"section": section, "who": who, "nav": nav, **context},
        status_code=status_code,
    )

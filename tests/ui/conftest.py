"""A headless Chromium (Debian's, driven by Playwright) and live servers for the UI tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub
from tests.api.conftest import LiveServer, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A folder to copy every screenshot into (besides the test's tmp dir).
SCREENSHOTS_ENV = "MLHARBOR_UI_SCREENSHOTS"


def open_page(browser: Any, width: int = 1280, height: int = 900, *, touch: bool = False) -> Any:
    """A page in a fresh context whose ``errors`` collects script errors and console errors.

    A 4xx answer the page shows as a message is logged by Chromium; that is not an error.
    ``touch`` makes it a touch screen, as a phone is.
    """
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.errors = errors
    return page


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium for the session (starting it costs a second or two)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; .ci/run installs it (apt chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shot(tmp_path: Path) -> object:
    """``shot(page, name)`` saves a full-page screenshot as ``screens/NAME.png`` in the test's
    tmp dir, and also in the folder ``MLHARBOR_UI_SCREENSHOTS`` names, when it is set, for
    people to look at after the run."""
    folders = [tmp_path / "screens"]
    if os.environ.get(SCREENSHOTS_ENV):
        folders.append(Path(os.environ[SCREENSHOTS_ENV]))

    def save(page: object, name: str) -> Path:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
        return folders[-1] / f"{name}.png"

    return save


@pytest.fixture
def secured_live(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server with API keys required (no worker)."""
    settings = Settings(data_dir=tmp_path / "secured", auth_enabled=True, workers=0)
    with Hub.open(settings) as hub:
        yield from serve(hub)


@pytest.fixture
def live_worker(sqlite_hub: Hub) -> Iterator[LiveServer]:
    """A live server over the embedded defaults, with its worker pool running."""
    yield from serve(sqlite_hub, worker=True)


@pytest.fixture
def live_sqlite(sqlite_hub: Hub) -> Iterator[LiveServer]:
    """A live server over the embedded defaults, without workers."""
    yield from serve(sqlite_hub)

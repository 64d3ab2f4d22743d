"""A real uvicorn server on loopback, serving an app over a fresh hub."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from mlharbor.api.app import create_app
from mlharbor.hub import Hub


@dataclass
class LiveServer:
    url: str
    hub: Hub

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(hub: Hub, *, worker: bool = False) -> Iterator[LiveServer]:
    port = free_port()
    config = uvicorn.Config(
        create_app(hub=hub, worker=worker),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", hub)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(hub: Hub) -> Iterator[LiveServer]:
    """A live server over SQLite and over PostgreSQL."""
    yield from serve(hub)


@pytest.fixture
def live_sqlite(sqlite_hub: Hub) -> Iterator[LiveServer]:
    """A live server over the embedded defaults."""
    yield from serve(sqlite_hub)


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture
def live_worker(sqlite_hub: Hub) -> Iterator[LiveServer]:
    """A live server over the embedded defaults, with its worker pool running."""
    yield from serve(sqlite_hub, worker=True)

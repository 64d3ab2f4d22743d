"""Dataset URLs cannot reach the hub's own machine or network (server-side request forgery).

A live hub on loopback is asked to fetch URLs that point at an "internal service": a second
HTTP server on 127.0.0.1 that counts its hits. With the defaults every spelling of it is
refused with a 422, it is never hit, and nothing is stored. Private addresses elsewhere are
refused before any connection: an audit hook sees every ``socket.connect`` of this process,
so the tests prove no packet was even attempted (no traffic ever leaves loopback).
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlharbor.cli import app
from mlharbor.config import Settings
from mlharbor.data import urlguard
from mlharbor.hub import Hub

from ..api.conftest import LiveServer, serve

CSV = b"a,b\n1,2\n3,4\n"
HINT = "set MLHARBOR_URL_ALLOW_PRIVATE=true to allow private addresses"

# ---- seeing every connection and name lookup of this process --------------------------------

_seen: list[tuple[str, Any]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _seen is None or event not in ("socket.connect", "socket.getaddrinfo"):
        return
    _seen.append((event, args[1] if event == "socket.connect" else args[0]))
    # A safety net, not the thing tested: were the hub's check broken, its connection to a
    # private address fails here instead of leaving the machine.
    address = args[1] if event == "socket.connect" else None
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(f"test guard: no traffic to {address[0]}")


def _is_loopback(host: str) -> bool:
    return ipaddress.ip_address(str(host).split("%")[0]).is_loopback


sys.addaudithook(_audit)  # hooks cannot be removed: it acts only while a test asks


@pytest.fixture
def sockets() -> Iterator[list[tuple[str, Any]]]:
    """The ``(event, address or host)`` of each connect and getaddrinfo during the test."""
    global _seen
    _seen = []
    try:
        yield _seen
    finally:
        _seen = None


def connects(seen: list[tuple[str, Any]]) -> list[tuple[str, int]]:
    return [tuple(addr[:2]) for event, addr in seen if event == "socket.connect"]


# ---- servers --------------------------------------------------------------------------------


class Loopback:
    """An HTTP server on 127.0.0.1 that counts hits; ``routes`` maps a path to an answer."""

    def __init__(self, routes: dict[str, Callable[[], tuple[int, dict[str, str], bytes]]]):
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                status, headers, body = routes.get(self.path, lambda: (404, {}, b""))()
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[Loopback]:
    """The "internal service" the hub must not read."""
    server = Loopback({"/secret.csv": lambda: (200, {"Content-Type": "text/csv"}, CSV)})
    yield server
    server.close()


def _hub_server(tmp_path: Path, **settings: Any) -> Iterator[LiveServer]:
    # Explicit, so MLHARBOR_URL_ALLOW_PRIVATE in the environment cannot change the tests.
    settings = {"url_allow_private": False, **settings}
    with Hub.open(Settings(data_dir=tmp_path / "data", workers=1, **settings)) as hub:
        yield from serve(hub)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A hub with the default settings (private addresses refused)."""
    yield from _hub_server(tmp_path)


def refused(live: LiveServer, url: str) -> str:
    """POST ``url`` to from-url, check it was refused and nothing stored; the detail."""
    with live.client() as api:
        r = api.post("/api/v1/datasets/from-url", json={"url": url, "name": "stolen"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        listed = api.get("/api/v1/datasets").json()
    assert listed["count"] == 0 and listed["data"] == []
    staging = live.hub.settings.data_dir / "uploads"
    assert not staging.exists() or not list(staging.iterdir()), "a download was left behind"
    return r.json()["detail"]


# ---- the internal service, however it is spelled --------------------------------------------


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("127.0.0.1", "resolves to 127.0.0.1, a loopback address"),
        ("localhost", "a loopback address"),
        ("[::1]", "resolves to ::1, a loopback address"),
        ("[::ffff:127.0.0.1]", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("2130706433", "resolves to 127.0.0.1, a loopback address"),
        ("0x7f000001", "resolves to 127.0.0.1, a loopback address"),
        ("0x7f.1", "resolves to 127.0.0.1, a loopback address"),
        ("017700000001", "resolves to 127.0.0.1, a loopback address"),
        ("127.1", "resolves to 127.0.0.1, a loopback address"),
        ("0.0.0.0", "resolves to 0.0.0.0, an unspecified address"),
        ("[::]", "resolves to ::, an unspecified address"),
    ],
)
def test_the_internal_service_is_refused_however_spelled(
    live: LiveServer, internal: Loopback, sockets: list[tuple[str, Any]], host: str, words: str
) -> None:
    detail = refused(live, f"http://{host}:{internal.port}/secret.csv")
    assert words in detail and HINT in detail
    assert internal.hits == []
    assert not [a for a in connects(sockets) if a[1] == internal.port], "it was connected to"


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("10.0.0.1", "10.0.0.1, a private address"),
        ("172.16.5.4", "172.16.5.4, a private address"),
        ("192.168.1.1", "192.168.1.1, a private address"),
        ("100.64.0.1", "a carrier-grade NAT (shared) address"),
        ("169.254.169.254", "169.254.169.254, a link-local address (the cloud metadata service)"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("[fe80::1]", "a link-local address"),
        ("[fd00::1]", "a unique-local address"),
        ("[fec0::1]", "a site-local address"),
        ("[::ffff:10.0.0.1]", "an IPv6 form of 10.0.0.1, a private address"),
        ("[::ffff:169.254.169.254]", "an IPv6 form of 169.254.169.254, a link-local"),
        ("[2002:a9fe:a9fe::1]", "an IPv6 form of 169.254.169.254"),  # 6to4
        ("[64:ff9b::a00:1]", "an IPv6 form of 10.0.0.1"),  # NAT64
        ("167772161", "resolves to 10.0.0.1, a private address"),
        ("0xa9.0xfe.0xa9.0xfe", "resolves to 169.254.169.254"),
    ],
)
def test_private_addresses_are_refused_before_any_connection(
    live: LiveServer, sockets: list[tuple[str, Any]], host: str, words: str
) -> None:
    detail = refused(live, f"http://{host}/data.csv")
    assert words in detail and HINT in detail
    # The only connection made was the test's own to the hub.
    hub_port = int(live.url.rsplit(":", 1)[1])
    assert set(connects(sockets)) <= {("127.0.0.1", hub_port)}, connects(sockets)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://127.0.0.1:{port}/secret.csv", "only http and https"),
        ("gopher://127.0.0.1:{port}/_GET%20/secret.csv", "only http and https"),
        ("http://evil@127.0.0.1:{port}/secret.csv", "user name or password"),
        ("http://public.example@127.0.0.1:{port}/secret.csv", "user name or password"),
        ("http://user:pw@127.0.0.1:{port}/secret.csv", "user name or password"),
    ],
)
def test_other_schemes_and_userinfo_are_refused(
    live: LiveServer, internal: Loopback, url: str, words: str
) -> None:
    detail = refused(live, url.format(port=internal.port))
    assert words in detail
    assert internal.hits == []


def test_the_cli_refuses_it_too(
    tmp_path: Path, internal: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "cli"))
    r = CliRunner().invoke(app, ["ingest", f"http://127.0.0.1:{internal.port}/secret.csv"])
    assert r.exit_code == 3, r.output
    assert "a loopback address" in r.output and "MLHARBOR_URL_ALLOW_PRIVATE" in r.output
    assert internal.hits == []
    listing = CliRunner().invoke(app, ["datasets", "list"])
    assert "secret" not in listing.output


def test_with_private_addresses_allowed_loopback_is_fetched(
    tmp_path: Path, internal: Loopback
) -> None:
    for server in _hub_server(tmp_path, url_allow_private=True):
        with server.client() as api:
            url = f"http://127.0.0.1:{internal.port}/secret.csv"
            r = api.post("/api/v1/datasets/from-url", json={"url": url})
        assert r.status_code == 201, r.text
        assert r.json()["dataset"] == "secret" and r.json()["n_rows"] == 2
    assert internal.hits == ["/secret.csv"]


# ---- redirects, from a server that counts as public -----------------------------------------

PUBLIC = "93.184.216.34"  # what the fake name "resolves" to; never connected to


@pytest.fixture
def public(
    internal: Loopback, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Loopback, list[str]]]:
    """A server reached as ``public.example``: DNS for that name is stood in for (vetted as
    a public address, connected to on loopback); every other name resolves for real.

    Yields the server and the names the hub resolved.
    """
    secret = f"http://127.0.0.1:{internal.port}/secret.csv"
    routes: dict[str, Callable[[], tuple[int, dict[str, str], bytes]]] = {
        "/data.csv": lambda: (200, {"Content-Type": "text/csv"}, CSV),
        "/to-internal": lambda: (302, {"Location": secret}, b""),
        "/to-localhost": lambda: (301, {"Location": secret.replace("127.0.0.1", "localhost")}, b""),
        "/to-metadata": lambda: (307, {"Location": "http://169.254.169.254/latest/"}, b""),
        "/to-file": lambda: (302, {"Location": "file:///etc/passwd"}, b""),
        "/to-data": lambda: (302, {"Location": "/data.csv"}, b""),
        "/loop": lambda: (302, {"Location": "/loop"}, b""),
    }
    server = Loopback(routes)
    real, asked = urlguard.resolve, []

    def resolve(host: str, port: int) -> list[tuple[str, str]]:
        asked.append(host)
        return [(PUBLIC, "127.0.0.1")] if host == "public.example" else real(host, port)

    monkeypatch.setattr(urlguard, "resolve", resolve)
    yield server, asked
    server.close()


def test_a_public_server_is_fetched_and_its_redirects_followed(
    live: LiveServer, public: tuple[Loopback, list[str]], sockets: list[tuple[str, Any]]
) -> None:
    server, asked = public
    with live.client() as api:
        url = f"http://public.example:{server.port}/to-data"
        r = api.post("/api/v1/datasets/from-url", json={"url": url})
    assert r.status_code == 201, r.text
    assert r.json()["n_rows"] == 2 and r.json()["source"] == f"url:{url}"
    assert server.hits == ["/to-data", "/data.csv"]
    # Pinned: the name was resolved by the vetting code only, and the connection went to
    # the vetted address, not to a second lookup of the name.
    assert "public.example" in asked
    assert not [h for e, h in sockets if e == "socket.getaddrinfo" and h == "public.example"]
    assert ("127.0.0.1", server.port) in connects(sockets)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/to-internal", "resolves to 127.0.0.1, a loopback address"),
        ("/to-localhost", "a loopback address"),
        ("/to-metadata", "169.254.169.254, a link-local address"),
        ("/to-file", "only http and https"),
        ("/loop", "redirected more than 5 times"),
    ],
)
def test_redirects_are_checked_hop_by_hop(
    live: LiveServer,
    internal: Loopback,
    public: tuple[Loopback, list[str]],
    sockets: list[tuple[str, Any]],
    path: str,
    words: str,
) -> None:
    server, _ = public
    detail = refused(live, f"http://public.example:{server.port}{path}")
    assert words in detail
    if path != "/loop":
        assert "redirected to" in detail and server.hits == [path]
    assert internal.hits == []
    hub_port = int(live.url.rsplit(":", 1)[1])
    assert set(connects(sockets)) <= {("127.0.0.1", hub_port), ("127.0.0.1", server.port)}


# ---- the address classifier, on literal addresses (no lookups, no traffic) ------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.255.255.254", "::1", "0.0.0.0", "::", "10.1.2.3", "172.31.255.255",
        "192.168.0.1", "100.64.0.1", "100.127.255.254", "169.254.169.254", "169.254.0.1",
        "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "224.0.0.251", "ff02::1",
        "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "2001:db8::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
        "2002:7f00:1::", "2002:c0a8:101::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fd00:ec2::254",
    ],
)  # fmt: skip
def test_non_public_addresses_are_classified_as_refused(address: str) -> None:
    assert urlguard.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8",
     "64:ff9b::808:808", "2002:808:808::1"],
)  # fmt: skip
def test_public_addresses_pass(address: str) -> None:
    assert urlguard.refusal(ipaddress.ip_address(address)) is None


def test_one_bad_address_among_several_refuses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        urlguard, "resolve", lambda host, port: [("8.8.8.8", "8.8.8.8"), ("10.0.0.7", "10.0.0.7")]
    )
    with pytest.raises(urlguard.AddressRefusedError, match=r"10\.0\.0\.7, a private address"):
        urlguard.vetted_addresses("mixed.example", 80, allow_private=False)

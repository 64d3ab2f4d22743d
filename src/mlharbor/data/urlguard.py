"""Where a fetched URL may connect: public addresses only, unless private ones are allowed.

A dataset URL is chosen by whoever calls the API, so fetching it must not reach the hub's
own machine or network (loopback services, the cloud metadata service, databases on a
private network). The check happens where the connection is made: :class:`PinnedBackend`
resolves the host itself, vets every address it resolves to, and connects to a vetted
address, so a name that resolves differently between a check and the connection (DNS
rebinding) cannot slip through, and redirects are vetted like the first request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from mlharbor.errors import InvalidInputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_HINT = "set MLHARBOR_URL_ALLOW_PRIVATE=true to allow private addresses"

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class AddressRefusedError(InvalidInputError):
    """A URL's host resolves to an address that fetching may not connect to."""


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo).

    Traffic to these forms ends up at the IPv4 address, so it is the one to vet; the
    ``ipaddress`` flags of the IPv6 form say nothing about it (``::ffff:127.0.0.1`` is not
    ``is_loopback``).
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _kind(ip: IPAddress) -> str | None:
    """What makes ``ip`` itself non-public (``"a loopback address"``), or ``None``."""
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip in _METADATA:
        return "a link-local address (the cloud metadata service)"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _CGNAT:
            return "a carrier-grade NAT (shared) address"
    else:
        if ip.is_site_local:
            return "a site-local address"
        if ip in _UNIQUE_LOCAL:
            return "a unique-local address"
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why connecting to ``ip`` is refused, e.g. ``"a loopback address"``; ``None`` if public.

    An IPv6 form of an IPv4 address is judged by the IPv4 address it carries.
    """
    if ip.is_unspecified or ip.is_loopback:
        return _kind(ip)
    carried = embedded_ipv4(ip)
    for v4 in carried:
        kind = _kind(v4)
        if kind is not None:
            return f"an IPv6 form of {v4}, {kind}"
    return None if carried else _kind(ip)


def resolve(host: str, port: int) -> list[tuple[str, str]]:
    """The addresses ``host`` resolves to, as ``(address to vet, address to connect to)``.

    Both are the same address; the pair exists so that a test can stand in for DNS and
    routing (a public address whose traffic lands on a loopback test server) while the
    vetting and connecting code stays the real one. ``getaddrinfo`` also reads the odd
    IPv4 spellings (``2130706433``, ``0x7f.1``, ``017700000001``, ``127.1``) as the
    address they mean, so those are vetted as that address.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInputError(f"could not resolve the URL's host {host!r}: {exc}", host=host)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return [(a, a) for a in seen]


def vetted_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``, every one of them vetted.

    Raises
    ------
    AddressRefusedError
        One of the addresses is not public (and private ones are not allowed).
    """
    pairs = resolve(host, port)
    if not allow_private:
        for shown, _ in pairs:
            ip = ipaddress.ip_address(shown.split("%", 1)[0])
            kind = refusal(ip)
            if kind is not None:
                raise AddressRefusedError(
                    f"the URL's host resolves to {ip}, {kind}; {ALLOW_HINT}",
                    host=host,
                    address=str(ip),
                )
    return [dial for _, dial in pairs]


class PinnedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to vetted addresses of the requested host."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = vetted_addresses(host, port, allow_private=self.allow_private)
        error: Exception | None = None
        for address in addresses:  # connect to the vetted address, never to the name again
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # getaddrinfo answers at least one address or raises
        raise error


def pinned_transport(*, allow_private: bool) -> httpx.HTTPTransport:
    """An httpx transport whose connections go through :class:`PinnedBackend`.

    No proxy from the environment: a proxy would make the connection, unvetted.
    """
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no parameter for httpcore's network backend: its pool is rebuilt with one.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=PinnedBackend(allow_private=allow_private),
    )
    return transport

"""Fetching a dataset from an http(s) URL: size-limited, time-limited, streamed to disk.

Only public addresses are fetched unless ``allow_private`` (see :mod:`mlharbor.data.urlguard`);
redirects are followed here, hop by hop, so each one is checked like the first URL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from mlharbor.data.urlguard import AddressRefusedError, pinned_transport
from mlharbor.errors import InvalidInputError, PayloadTooLargeError

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetched:
    """A downloaded file: the name it had, its SHA-256 and size."""

    filename: str
    sha256: str
    size: int


def check_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host, else raise ``InvalidInputError``."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInputError(
            f"only http and https URLs can be fetched, not {parts.scheme or 'a bare path'!r}",
            url=url,
        )
    if not parts.hostname:
        raise InvalidInputError(f"the URL {url!r} has no host", url=url)
    if "@" in parts.netloc or "\\" in parts.netloc:
        # ``http://evil@127.0.0.1/`` reads as another host to a human, and parsers disagree
        # on odd ones; credentials would also end up in the dataset's stored source.
        raise InvalidInputError(
            "URLs with a user name or password (user@host) are not fetched", url=url
        )
    return url.strip()


def _filename(response: httpx.Response) -> str:
    disposition = response.headers.get("content-disposition", "")
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
    if match:
        return Path(unquote(match.group(1))).name
    return Path(unquote(response.url.path)).name or "download"


def fetch(
    url: str, dest: Path, *, max_bytes: int, timeout: float, allow_private: bool = False
) -> Fetched:
    """Download ``url`` to ``dest``, hashing as it streams.

    Raises
    ------
    InvalidInputError
        Not an http(s) URL, its host (or a redirect's) resolves to a non-public address and
        ``allow_private`` is off, unreachable, timed out, too many redirects, or answered
        with an error status.
    PayloadTooLargeError
        Larger than ``max_bytes``.
    """
    url = check_url(url)
    digest = hashlib.sha256()
    client = httpx.Client(
        transport=pinned_transport(allow_private=allow_private),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"Accept": "*/*"},
    )
    try:
        with client:
            response = _get(client, url)
            try:
                name = _download(response, dest, digest, max_bytes, url)
            finally:
                response.close()
    except httpx.TimeoutException:
        raise InvalidInputError(f"fetching {url} timed out after {timeout:g} s", url=url)
    except httpx.TransportError as exc:
        raise InvalidInputError(f"could not reach {url}: {exc or type(exc).__name__}", url=url)
    return Fetched(name, digest.hexdigest(), dest.stat().st_size)


def _download(response: httpx.Response, dest: Path, digest: Any, max_bytes: int, url: str) -> str:
    """Stream an answered request to ``dest``, within ``max_bytes``; return its file name."""
    if response.status_code >= 400:
        raise InvalidInputError(
            f"the URL answered {response.status_code} {response.reason_phrase}", url=url
        )
    declared = int(response.headers.get("content-length") or 0)
    if declared > max_bytes:
        raise PayloadTooLargeError(_too_large(declared, max_bytes), url=url)
    size = 0
    with open(dest, "wb") as fh:
        for chunk in response.iter_bytes(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLargeError(_too_large(size, max_bytes), url=url)
            digest.update(chunk)
            fh.write(chunk)
    return _filename(response)


def _get(client: httpx.Client, url: str) -> httpx.Response:
    """The streamed response to GET ``url``, after following up to ``MAX_REDIRECTS``.

    Each hop is a new request through the pinned transport: its scheme and host are checked
    as the first URL's were.
    """
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            response = client.send(client.build_request("GET", current), stream=True)
        except AddressRefusedError as exc:
            if hop == 0:
                raise
            raise AddressRefusedError(
                f"{url} redirected to {current}, and {exc.message}", url=url, **exc.details
            ) from None
        if not response.has_redirect_location:
            return response
        response.close()
        target = str(response.url.join(response.headers["location"]))
        try:
            current = check_url(target)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"{url} redirected to {target!r}, which is refused: {exc.message}", url=url
            ) from None
    raise InvalidInputError(f"{url} redirected more than {MAX_REDIRECTS} times", url=url)


def _too_large(size: int, limit: int) -> str:
    return f"the download is over the limit of {limit:,} bytes (at least {size:,} bytes)"

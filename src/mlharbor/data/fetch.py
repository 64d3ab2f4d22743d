"""Fetching a dataset from an http(s) URL: size-limited, time-limited, streamed to disk."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from mlharbor.errors import InvalidInputError, PayloadTooLargeError


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
    return url.strip()


def _filename(response: httpx.Response) -> str:
    disposition = response.headers.get("content-disposition", "")
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
    if match:
        return Path(unquote(match.group(1))).name
    return Path(unquote(response.url.path)).name or "download"


def fetch(url: str, dest: Path, *, max_bytes: int, timeout: float) -> Fetched:
    """Download ``url`` to ``dest``, hashing as it streams.

    Raises
    ------
    InvalidInputError
        Not an http(s) URL, unreachable, timed out, or answered with an error status.
    PayloadTooLargeError
        Larger than ``max_bytes``.
    """
    url = check_url(url)
    digest, size = hashlib.sha256(), 0
    try:
        with httpx.stream(
            "GET", url, timeout=timeout, follow_redirects=True, headers={"Accept": "*/*"}
        ) as response:
            if response.status_code >= 400:
                raise InvalidInputError(
                    f"the URL answered {response.status_code} {response.reason_phrase}", url=url
                )
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise PayloadTooLargeError(_too_large(declared, max_bytes), url=url)
            with open(dest, "wb") as fh:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLargeError(_too_large(size, max_bytes), url=url)
                    digest.update(chunk)
                    fh.write(chunk)
            name = _filename(response)
    except httpx.TimeoutException:
        raise InvalidInputError(f"fetching {url} timed out after {timeout:g} s", url=url)
    except httpx.TransportError as exc:
        raise InvalidInputError(f"could not reach {url}: {exc or type(exc).__name__}", url=url)
    return Fetched(name, digest.hexdigest(), size)


def _too_large(size: int, limit: int) -> str:
    return f"the download is over the limit of {limit:,} bytes (at least {size:,} bytes)"

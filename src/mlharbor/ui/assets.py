"""Static files under content-hashed names, compressed once and cached for a year.

``/static/plotly.min.js`` is 4.8 MB; served plain and re-validated daily, a chart page took
seconds on a fresh browser. Each file here is named by its content hash
(``/static/a/plotly.3f9c0e1d2b4a.min.js``), so a browser may keep it forever
(``immutable``) and a new release changes the name. The gzip (and brotli, when the optional
``brotli`` package is installed) forms are made on first request and kept in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import plotly
from fastapi import Request
from fastapi.responses import Response

from mlharbor.errors import NotFoundError
from mlharbor.ui.web import HERE

try:  # optional: a third smaller than gzip, but not a dependency of ours
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

PREFIX = "/static/a"
#: plotly.js as the installed ``plotly`` ships it. Only the full bundle ships there (no
#: basic or cartesian dist), so that is what is served.
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
COMPRESSIBLE = (".js", ".css", ".svg")


@dataclass
class Asset:
    path: Path
    name: str
    digest: str
    _encoded: dict[str, bytes] = field(default_factory=dict)

    @property
    def hashed(self) -> str:
        stem, dot, rest = self.name.partition(".")
        return f"{stem}.{self.digest}{dot}{rest}"

    def body(self, encoding: str) -> bytes:
        if encoding not in self._encoded:
            raw = self.path.read_bytes()
            if encoding == "br" and brotli is not None:
                self._encoded[encoding] = brotli.compress(raw, quality=9)
            elif encoding == "gzip":
                self._encoded[encoding] = gzip.compress(raw, compresslevel=9, mtime=0)
            else:
                self._encoded[encoding] = raw
        return self._encoded[encoding]


class Assets:
    """The UI's static files by hashed name; ``url(name)`` for templates."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_hashed: dict[str, Asset] = {}
        for name, path in files.items():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            asset = Asset(path, name, digest)
            self.by_name[name] = asset
            self.by_hashed[asset.hashed] = asset
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> Assets:
        static = HERE / "static"
        files = {
            p.relative_to(static).as_posix(): p
            for p in static.rglob("*")
            if p.is_file() and p.suffix in TYPES
        }
        files["plotly.min.js"] = PLOTLY_JS
        return cls(files)

    def url(self, name: str) -> str:
        """The hashed URL of ``name`` (a path under ``ui/static``, or ``plotly.min.js``)."""
        return f"{PREFIX}/{self.by_name[name].hashed}"

    def response(self, request: Request, hashed: str) -> Response:
        """The file, compressed as the browser accepts, with a year of caching."""
        asset = self.by_hashed.get(hashed)
        if asset is None:
            raise NotFoundError(f"no static file {hashed!r}")
        suffix = asset.path.suffix
        accepted = request.headers.get("accept-encoding", "")
        encoding = "identity"
        if suffix in COMPRESSIBLE:
            if brotli is not None and "br" in accepted:
                encoding = "br"
            elif "gzip" in accepted:
                encoding = "gzip"
        with self._lock:  # one compression of plotly.js, however many first requests
            body = asset.body(encoding)
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        if encoding != "identity":
            headers["Content-Encoding"] = encoding
        return Response(body, media_type=TYPES[suffix], headers=headers)

"""A few calls of the MLflow tracking server's REST API, over httpx.

mlharbor does not depend on the ``mlflow`` package (hundreds of megabytes, and pins of its
own on pandas, NumPy and SQLAlchemy): what a run needs is a handful of endpoints, each a
JSON POST, and artifact uploads through the server's artifact proxy:

- ``experiments/get-by-name`` and ``experiments/create``: the experiment, made on first use;
- ``runs/search``: a run an earlier attempt of the same job already made, reused rather
  than duplicated;
- ``runs/create``, ``runs/log-batch`` (params, metrics and tags, in batches within the
  server's limits), ``runs/log-inputs``, ``runs/log-model``, ``runs/update`` (status and end
  time);
- ``PUT /api/2.0/mlflow-artifacts/artifacts/<path>``: each file, for a server started with
  ``--serve-artifacts`` (the default since MLflow 2), whose runs' artifact URI is
  ``mlflow-artifacts:/…``.

Each request is tried up to :data:`ATTEMPTS` times when the server does not answer or
answers 429/5xx; anything else is a verdict. The tracking URI comes from the operator's
settings, never from a request, so it is not put through the SSRF guard of URL ingestion.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from mlharbor.errors import UpstreamError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

#: Tries of one request before the run is given up (the first included).
ATTEMPTS = 3
#: Seconds before the second try; doubled before each further one.
BACKOFF_SECONDS = 0.5
#: Seconds a request may take, and its connection.
TIMEOUT_SECONDS, CONNECT_SECONDS = 30.0, 5.0
#: log-batch limits of the MLflow server (per request).
MAX_PARAMS, MAX_TAGS, MAX_METRICS, MAX_ENTITIES = 100, 100, 1000, 1000
MAX_KEY_LENGTH, MAX_PARAM_LENGTH, MAX_TAG_LENGTH = 250, 6000, 8000
#: Under the server's 1 MB limit of one log-batch request body.
MAX_BATCH_BYTES = 900_000
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def redact(uri: str) -> str:
    """``uri`` without the user name and password it may carry (for messages and tags)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_tracking_uri(uri: str) -> str:
    """``uri`` if it names an MLflow tracking server over HTTP(S), else ``ValueError``."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"the MLflow tracking URI must be the http(s) address of a tracking server, such "
            f"as http://mlflow:5000 (got {redact(uri)!r}); mlharbor does not write MLflow's "
            "file or database stores itself"
        )
    return uri.strip().rstrip("/")


class MlflowRest:
    """A few calls of the MLflow tracking server's REST API.

    Parameters
    ----------
    uri : str
        The server, e.g. ``http://mlflow:5000``; a user name and password in it
        (``http://user:secret@host``) are sent as HTTP basic auth, as MLflow's
        authentication app expects.
    attempts : int
        Tries of each request (see :data:`ATTEMPTS`).
    transport : httpx.BaseTransport, optional
        For tests and proxies.
    """

    def __init__(
        self,
        uri: str,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.uri = check_tracking_uri(uri)
        self.public_uri = redact(self.uri)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        # httpx (0.1 s with its imports) only where a run is logged: every train job imports
        # this module for its tracking hook, which does nothing unless a server is set.
        import httpx

        timeout = httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_SECONDS)
        self._http = httpx.Client(base_url=self.uri, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> MlflowRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, tried again on no answer or 429/5xx; raises on any other error.

        Raises
        ------
        UpstreamError
            The server did not answer, or answered an error (its ``error_code`` and
            message in ours, its HTTP status in ``details["status"]``).
        """
        import httpx

        what = f"{method} {path.split('?')[0]}"
        content = kwargs.pop("content", None)
        for attempt in range(1, self.attempts + 1):
            if isinstance(content, Path):  # streamed from the file, anew on each attempt
                kwargs["content"] = _chunks(content)
            elif content is not None:
                kwargs["content"] = content
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                status = None
            else:
                if response.status_code < 400:
                    return response
                failure, status = _error_text(response), response.status_code
                if status not in _RETRY_STATUS:
                    raise UpstreamError(
                        f"the MLflow server at {self.public_uri} refused {what}: {failure}",
                        status=status,
                        error_code=_error_code(response),
                    )
            if attempt < self.attempts:
                log.info("MLflow %s failed (%s); trying again", what, failure)
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise UpstreamError(
            f"the MLflow server at {self.public_uri} did not take {what} "
            f"after {self.attempts} attempts: {failure}",
            status=status,
        )

    def call(self, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` to ``/api/2.0/mlflow/<endpoint>``; the JSON answer."""
        response = self.request("POST", f"/api/2.0/mlflow/{endpoint}", json=body or {})
        return response.json() if response.content else {}

    # -- experiments and runs --------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The id of the experiment called ``name``, creating it if there is none.

        Raises
        ------
        UpstreamError
            The experiment exists but is deleted (MLflow refuses runs in it).
        """
        found = self._find_experiment(name)
        if found is None:
            try:
                return str(self.call("experiments/create", {"name": name})["experiment_id"])
            except UpstreamError as exc:  # made meanwhile by another job
                if exc.details.get("error_code") != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = self._find_experiment(name)
                if found is None:
                    raise
        if found.get("lifecycle_stage") == "deleted":
            raise UpstreamError(
                f"the MLflow experiment {name!r} at {self.public_uri} is deleted; restore it "
                "(or delete it for good) for mlharbor to log its runs there"
            )
        return str(found["experiment_id"])

    def _find_experiment(self, name: str) -> dict[str, Any] | None:
        try:
            response = self.request(
                "GET", "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}
            )
        except UpstreamError as exc:
            if exc.details.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return response.json()["experiment"]

    def find_run(self, experiment_id: str, tags: dict[str, str]) -> dict[str, Any] | None:
        """The newest run of the experiment carrying every one of ``tags``, or ``None``."""
        clauses = [f"tags.`{k}` = '{_quote(v)}'" for k, v in tags.items()]
        body = {
            "experiment_ids": [experiment_id],
            "filter": " and ".join(clauses),
            "max_results": 1,
            "order_by": ["attributes.start_time DESC"],
        }
        runs = self.call("runs/search", body).get("runs") or []
        return runs[0] if runs else None

    def create_run(
        self, experiment_id: str, name: str, tags: dict[str, str], start_time: float
    ) -> dict[str, Any]:
        """A new run; its ``info`` (``run_id``, ``artifact_uri``, ...)."""
        body = {
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": _millis(start_time),
            "tags": [{"key": k, "value": v} for k, v in _tags(tags).items()],
        }
        return self.call("runs/create", body)["run"]["info"]

    def log_batch(
        self,
        run_id: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Log parameters, metrics and tags, in as many requests as the server's limits ask."""
        stamp = _millis(timestamp if timestamp is not None else time.time())
        param_items = [{"key": k, "value": v} for k, v in _params(params or {}).items()]
        metric_items = [
            {"key": k, "value": v, "timestamp": stamp, "step": 0}
            for k, v in _metrics(metrics or {}).items()
        ]
        tag_items = [{"key": k, "value": v} for k, v in _tags(tags or {}).items()]
        for batch in _batches(param_items, metric_items, tag_items):
            self.call("runs/log-batch", {"run_id": run_id, **batch})

    def end_run(self, run_id: str, status: str = "FINISHED", end_time: float | None = None) -> None:
        """Mark the run ``status`` (``FINISHED``, ``FAILED``, ``KILLED``)."""
        end = _millis(end_time if end_time is not None else time.time())
        self.call("runs/update", {"run_id": run_id, "status": status, "end_time": end})

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page in the MLflow UI."""
        return f"{self.public_uri}/#/experiments/{experiment_id}/runs/{run_id}"

    # -- artifacts -------------------------------------------------------------------------

    def upload(self, artifact_uri: str, path: str, data: bytes | Path) -> None:
        """Store ``data`` (bytes, or a file streamed) at ``path`` under the run's
        ``artifact_uri`` through the proxy.

        Raises
        ------
        UpstreamError
            The artifact URI is not the proxy's (``mlflow-artifacts:``), or the upload failed.
        """
        root = proxied_root(artifact_uri)
        if root is None:
            raise UpstreamError(
                f"the MLflow server at {self.public_uri} stores this run's artifacts at "
                f"{artifact_uri}, which mlharbor cannot write to: start it with "
                "--serve-artifacts (the default since MLflow 2) so artifacts go through it"
            )
        target = "/".join(p for p in (root, path.strip("/")) if p)
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        self.request(
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/{quote(target)}",
            content=data,
            # A length, so a streamed file is sent as one body, not in HTTP chunks.
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )


def proxied_root(artifact_uri: str) -> str | None:
    """The path in the artifact proxy of ``mlflow-artifacts:/1/abc/artifacts``, or ``None``
    for a URI the proxy does not serve (``s3://…``, ``file:…``)."""
    parts = urlsplit(artifact_uri)
    if parts.scheme != "mlflow-artifacts":
        return None
    return parts.path.strip("/")


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _batches(
    params: list[dict[str, Any]], metrics: list[dict[str, Any]], tags: list[dict[str, Any]]
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """log-batch bodies within the server's limits: per kind, in all, and in bytes
    (params first: MLflow logs each once)."""
    queue = [("params", x) for x in params] + [("tags", x) for x in tags]
    queue += [("metrics", x) for x in metrics]
    limits = {"params": MAX_PARAMS, "tags": MAX_TAGS, "metrics": MAX_METRICS}
    body: dict[str, list[dict[str, Any]]] = {"params": [], "tags": [], "metrics": []}
    count = size = 0
    for kind, item in queue:
        item_size = len(json.dumps(item)) + 2
        full = count >= MAX_ENTITIES or len(body[kind]) >= limits[kind]
        if count and (full or size + item_size > MAX_BATCH_BYTES):
            yield body
            body = {"params": [], "tags": [], "metrics": []}
            count = size = 0
        body[kind].append(item)
        count, size = count + 1, size + item_size
    if count:
        yield body


def _key(key: object) -> str:
    """A valid MLflow key: letters, digits and ``_-. /:``, no empty, ``.`` or ``..`` path
    segment, at most 250 characters."""
    text = _KEY_CHARS.sub("_", str(key))[:MAX_KEY_LENGTH]
    segments = ["_" if part in (".", "..") else part for part in text.split("/") if part]
    return "/".join(segments) or "_"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)


def _params(params: dict[str, Any]) -> dict[str, str]:
    return {_key(k): _text(v)[:MAX_PARAM_LENGTH] for k, v in params.items()}


def _tags(tags: dict[str, Any]) -> dict[str, str]:
    return {_key(k): _text(v)[:MAX_TAG_LENGTH] for k, v in tags.items()}


def _metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Finite numbers only: JSON has no NaN, and a flag or a text is no metric."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            continue
        out[_key(k)] = float(v)
    return out


def _millis(seconds: float) -> int:
    return int(seconds * 1000)


def _quote(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def _error_code(response: httpx.Response) -> str | None:
    try:
        return response.json().get("error_code")
    except (ValueError, AttributeError):
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        text = f"{body.get('error_code', '')}: {body.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = response.text.strip()[:300]
    return f"HTTP {response.status_code}" + (f" ({text})" if text else "")

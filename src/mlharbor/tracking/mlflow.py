"""Log runs to an MLflow tracking server over its REST API, with httpx.

mlharbor does not depend on the ``mlflow`` package (hundreds of megabytes, and pins of its
own on pandas, NumPy and SQLAlchemy): what a run needs is a handful of endpoints, each a
JSON POST, and artifact uploads through the server's artifact proxy:

- ``experiments/get-by-name`` and ``experiments/create``: the experiment, made on first use;
- ``runs/search``: a run an earlier attempt of the same job already made, reused rather
  than duplicated;
- ``runs/create``, ``runs/log-batch`` (params, metrics and tags, in batches within the
  server's limits), ``runs/update`` (status and end time);
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from mlharbor.errors import UpstreamError

log = logging.getLogger(__name__)

#: Tries of one request before the run is given up (the first included).
ATTEMPTS = 3
#: Seconds before the second try; doubled before each further one.
BACKOFF_SECONDS = 0.5
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: log-batch limits of the MLflow server (per request).
MAX_PARAMS, MAX_TAGS, MAX_METRICS, MAX_ENTITIES = 100, 100, 1000, 1000
MAX_KEY_LENGTH, MAX_PARAM_LENGTH, MAX_TAG_LENGTH = 250, 6000, 8000
#: Under the server's 1 MB limit of one log-batch request body.
MAX_BATCH_BYTES = 900_000
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass
class TrackedRun:
    """What to log as one MLflow run.

    Attributes
    ----------
    experiment : str
        The experiment's name; created if it does not exist.
    name : str
        The run's name (``mlflow.runName``).
    params, metrics, tags : dict
        Parameters (any value, written as text), metrics (numbers; others are left out)
        and tags (text). Keys are made valid MLflow keys.
    artifacts : dict
        ``{artifact path: file content}``, e.g. ``{"plots/roc_curve.png": b"..."}``.
    model_dir : Path, optional
        An MLflow model directory (``MLmodel`` at its top) logged under ``model/``.
    key : dict
        Tags that identify the run (e.g. ``{"mlharbor.job_id": "7"}``): a finished run of
        the experiment with these tags is not logged again, an unfinished one is completed.
    datasets : list of TrackedDataset
        The run's inputs (MLflow's ``runs/log-inputs``), shown under Datasets in its UI.
    children : list of TrackedRun
        Nested runs (``mlflow.parentRunId``), e.g. AutoML's candidates.
    start_time, end_time : float, optional
        Seconds since the epoch; default: now.
    status : str
        How the run ended: ``FINISHED`` or ``FAILED``.
    """

    experiment: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    model_dir: Path | None = None
    key: dict[str, str] = field(default_factory=dict)
    datasets: list[TrackedDataset] = field(default_factory=list)
    children: list[TrackedRun] = field(default_factory=list)
    start_time: float | None = None
    end_time: float | None = None
    status: str = "FINISHED"


@dataclass(frozen=True)
class TrackedDataset:
    """A dataset a run read: its name, a digest of its content, where it is, and how it
    was used (``training``, ``evaluation``, ...)."""

    name: str
    digest: str
    url: str
    context: str = "training"
    #: MLflow's column spec, ``[{"name", "type"}]`` (optional).
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: int | None = None

    def to_input(self) -> dict[str, Any]:
        """The ``DatasetInput`` of ``runs/log-inputs``."""
        dataset: dict[str, Any] = {
            "name": self.name[:500],
            "digest": self.digest[:36],
            "source_type": "http",
            "source": json.dumps({"url": self.url}),
        }
        if self.columns:
            dataset["schema"] = json.dumps({"mlflow_colspec": self.columns})
        if self.rows is not None:
            dataset["profile"] = json.dumps({"num_rows": self.rows})
        tags = [{"key": "mlflow.data.context", "value": self.context}]
        return {"tags": tags, "dataset": dataset}


@dataclass(frozen=True)
class LoggedRun:
    """Where a run was logged: its ids and its page in the MLflow UI."""

    experiment_id: str
    run_id: str
    url: str
    artifact_uri: str
    #: Remarks a user should see (artifacts the server could not take, a reused run).
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "url": self.url,
            "artifact_uri": self.artifact_uri,
            "notes": list(self.notes),
        }


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
        self._http = httpx.Client(base_url=self.uri, timeout=TIMEOUT, transport=transport)

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


def log_run(uri: str, run: TrackedRun, *, attempts: int = ATTEMPTS) -> LoggedRun:
    """Log ``run`` (and its children) to the MLflow tracking server at ``uri``.

    Parameters
    ----------
    uri : str
        The tracking server, e.g. ``http://mlflow:5000``.
    run : TrackedRun
        What to log.
    attempts : int
        Tries of each request.

    Returns
    -------
    LoggedRun

    Raises
    ------
    UpstreamError
        The server could not be reached or refused a call; the run, if made, is marked
        ``FAILED`` when the server still answers.
    ValueError
        ``uri`` is not an http(s) URL.

    Examples
    --------
    >>> run = TrackedRun("churn", "nightly", params={"k": 3}, metrics={"auc": 0.91})
    >>> log_run("http://127.0.0.1:5000", run).url  # doctest: +SKIP
    'http://127.0.0.1:5000/#/experiments/1/runs/…'
    """
    with MlflowRest(uri, attempts=attempts) as rest:
        experiment_id = rest.experiment_id(run.experiment)
        return _log(rest, experiment_id, run, parent=None)


def report_run(
    uri: str | None, run: TrackedRun, warn: Callable[[str], None] | None = None
) -> LoggedRun | None:
    """:func:`log_run`, except that a failure is logged and handed to ``warn``, not raised.

    For callers whose own work must not fail because the tracking server did (a job, a
    pipeline run). ``None`` without a ``uri`` (tracking off) or on failure.
    """
    if not uri:
        return None
    try:
        return log_run(uri, run)
    except Exception as exc:  # whatever broke, the caller's work stands
        message = f"not logged to MLflow: {getattr(exc, 'message', None) or exc}"
        log.warning("run %r of experiment %r %s", run.name, run.experiment, message)
        if warn is not None:
            warn(message)
        return None


def _log(
    rest: MlflowRest,
    experiment_id: str,
    run: TrackedRun,
    parent: str | None,
    *,
    search: bool = True,
) -> LoggedRun:
    """Log ``run`` (and its children); ``search`` for an earlier attempt's run by its key."""
    notes: list[str] = []
    tags = {**run.tags, **run.key, "mlflow.runName": run.name}
    if parent:
        tags["mlflow.parentRunId"] = parent
    existing = rest.find_run(experiment_id, run.key) if run.key and search else None
    if existing is not None and existing["info"].get("status") == "FINISHED":
        info = existing["info"]
        return LoggedRun(
            experiment_id,
            info["run_id"],
            rest.run_url(experiment_id, info["run_id"]),
            info.get("artifact_uri", ""),
            ("logged by an earlier attempt",),
        )
    if existing is not None:
        info = existing["info"]
    else:
        info = rest.create_run(experiment_id, run.name, tags, run.start_time or time.time())
    run_id, artifact_uri = info["run_id"], info.get("artifact_uri", "")
    try:
        rest.log_batch(run_id, params=run.params, metrics=run.metrics, tags=tags)
        if run.datasets:
            inputs = [d.to_input() for d in run.datasets]
            rest.call("runs/log-inputs", {"run_id": run_id, "datasets": inputs})
        files: dict[str, bytes | Path] = dict(run.artifacts)
        if run.model_dir is not None:
            files.update(_model_files(run.model_dir, "model"))
            model_json = _model_json(run.model_dir, run_id, "model")
            rest.call("runs/log-model", {"run_id": run_id, "model_json": model_json})
        if files and proxied_root(artifact_uri) is None:
            notes.append(
                f"artifacts not uploaded: the server keeps them at {artifact_uri}, which "
                "mlharbor cannot write to (start it with --serve-artifacts)"
            )
            files = {}
        for path, data in files.items():
            rest.upload(artifact_uri, path, data)
        for child in run.children:
            # Only a run an earlier attempt made can have children already.
            _log(rest, experiment_id, child, parent=run_id, search=existing is not None)
        rest.end_run(run_id, run.status, run.end_time)
    except BaseException:
        # Marked failed if the server still answers: a half-logged run is not a result.
        try:
            rest.end_run(run_id, "FAILED")
        except Exception:
            log.debug("could not mark MLflow run %s failed", run_id, exc_info=True)
        raise
    return LoggedRun(
        experiment_id, run_id, rest.run_url(experiment_id, run_id), artifact_uri, tuple(notes)
    )


def _model_files(folder: Path, prefix: str) -> dict[str, bytes | Path]:
    """Every file of ``folder`` by its artifact path (read when uploaded, not now)."""
    return {
        f"{prefix}/{path.relative_to(folder).as_posix()}": path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _model_json(model_dir: Path, run_id: str, artifact_path: str) -> str:
    """What ``runs/log-model`` records of the model (its ``MLmodel``, with the run): the
    MLflow UI finds a run's models by it."""
    import yaml  # PyYAML comes with Dask

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
    mlmodel.update(run_id=run_id, artifact_path=artifact_path)
    return json.dumps(mlmodel, default=str)


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

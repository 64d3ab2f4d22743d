"""A Python client for a remote mlharbor server, with the facade's nouns.

Example
-------
>>> from mlharbor import Client
>>> with Client("http://127.0.0.1:8000", api_key="mlh_…") as hub:     # doctest: +SKIP
...     version = hub.datasets.upload("titanic.csv")
...     hub.datasets.preview("titanic", rows=5)

Errors come back as the same exception classes the library raises (``NotFoundError``,
``InvalidInputError``...), with the server's message and details, read by
:func:`mlharbor.errors.error_from_dict`; ``train``, ``score`` and ``automl`` raise a failed
job's error the same way.
"""

from __future__ import annotations

import builtins
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mlharbor.errors import InvalidInputError, error_from_dict, make_error
from mlharbor.workflows.requests import REQUESTS

__all__ = ["Client"]


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "code" not in body:
        # Not ours (a proxy's page, MLflow's shape): its text, under the answer's status.
        text = body.get("message", str(body)) if isinstance(body, dict) else response.text
        raise make_error("error", text or response.reason_phrase, response.status_code)
    # Servers before the one serialiser wrote the message as ``detail`` only.
    raise error_from_dict(
        {**body, "message": body.get("message", body.get("detail")), "status": response.status_code}
    )


def raise_for_job(job: dict[str, Any]) -> dict[str, Any]:
    """``job`` if it did not fail; else its error raised as the class it names."""
    if job.get("state") == "failed":
        raise error_from_dict(job.get("error") or {"code": "job_failed", "message": "job failed"})
    return job


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, path, **kwargs)


class Datasets(_Resource):
    """Datasets on the server."""

    def upload(
        self, path: str | Path, *, name: str | None = None, description: str = ""
    ) -> dict[str, Any]:
        """Upload a file; returns the version (``created`` is False if it was known)."""
        path = Path(path)
        form = {"description": description, **({"name": name} if name else {})}
        with open(path, "rb") as fh:
            return self._call(
                "POST", "/api/v1/datasets", files={"file": (path.name, fh)}, data=form
            ).json()

    def from_url(self, url: str, *, name: str | None = None) -> dict[str, Any]:
        """Have the server fetch an http(s) URL as a dataset version."""
        return self._call(
            "POST", "/api/v1/datasets/from-url", json={"url": url, "name": name}
        ).json()

    def from_records(self, name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Store JSON records as a dataset version."""
        return self._call(
            "POST", "/api/v1/datasets/from-records", json={"name": name, "records": records}
        ).json()

    def list(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """A page of datasets: ``{"data": [...], "count": N}``."""
        return self._call(
            "GET", "/api/v1/datasets", params={"limit": limit, "offset": offset}
        ).json()

    def get(self, ref: str | int) -> dict[str, Any]:
        """A dataset and its versions."""
        return self._call("GET", f"/api/v1/datasets/{ref}").json()

    def version(self, ref: str | int, version: int | None = None) -> dict[str, Any]:
        """A version with its schema (the latest by default)."""
        path = f"/api/v1/datasets/{ref}/" + (f"versions/{version}" if version else "schema")
        return self._call("GET", path).json()

    def preview(
        self, ref: str | int, *, rows: int = 20, version: int | None = None
    ) -> dict[str, Any]:
        """The first rows as typed JSON."""
        params: dict[str, Any] = {"rows": rows, **({"version": version} if version else {})}
        return self._call("GET", f"/api/v1/datasets/{ref}/preview", params=params).json()

    def download(
        self,
        ref: str | int,
        dest: str | Path,
        *,
        format: str = "parquet",
        version: int | None = None,
    ) -> Path:
        """Save a version as Parquet or CSV to ``dest``."""
        params: dict[str, Any] = {"format": format, **({"version": version} if version else {})}
        dest = Path(dest)
        with (
            self._client.stream(
                "GET", f"/api/v1/datasets/{ref}/download", params=params
            ) as response,
            open(dest, "wb") as out,
        ):
            for chunk in response.iter_bytes():
                out.write(chunk)
        return dest

    def insights(
        self, ref: str | int, *, target: str | None = None, version: int | None = None
    ) -> dict[str, Any]:
        """The dataset's insights (cached on the server)."""
        params = {k: v for k, v in {"target": target, "version": version}.items() if v}
        return self._call("GET", f"/api/v1/datasets/{ref}/insights", params=params).json()

    def insights_html(self, ref: str | int, *, target: str | None = None) -> str:
        """The insights as a self-contained HTML report."""
        params = {"target": target} if target else {}
        return self._call("GET", f"/api/v1/datasets/{ref}/insights/report", params=params).text

    def delete(self, ref: str | int) -> None:
        """Delete a dataset (refused while a model uses it)."""
        self._call("DELETE", f"/api/v1/datasets/{ref}")


class Jobs(_Resource):
    """Jobs on the server."""

    def submit(
        self, kind: str, params: dict[str, Any], *, timeout_seconds: float | None = None
    ) -> dict[str, Any]:
        """Queue a job of ``kind`` (``train``, ``automl``, ``score``) with ``params``.

        The parameters are checked here by the workflow's request, as the server checks
        them (an unknown option or a wrong type raises ``InvalidInputError`` before any
        call); the model's parameters are left to the server's catalog.
        """
        if kind not in REQUESTS:
            raise InvalidInputError(
                f"unknown job kind {kind!r}; valid kinds: {', '.join(REQUESTS)}", kind=kind
            )
        request = REQUESTS[kind].parse(params, catalog=False)
        body = {
            "kind": kind,
            "params": request.model_dump(mode="json", exclude_unset=True),
            "timeout_seconds": timeout_seconds,
        }
        return self._call("POST", "/api/v1/jobs", json=body).json()

    def submit_train(
        self, dataset: str, target: str, *, timeout_seconds: float | None = None, **options: Any
    ) -> dict[str, Any]:
        """Queue a ``train`` job; ``options`` are the fields of ``TrainRequest`` (model,
        params...)."""
        params = {"dataset": dataset, "target": target, **options}
        return self.submit("train", params, timeout_seconds=timeout_seconds)

    def submit_score(
        self, model: str, dataset: str, *, timeout_seconds: float | None = None, **options: Any
    ) -> dict[str, Any]:
        """Queue a ``score`` job: ``model`` is ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION``;
        ``options``: ``dataset_version``, ``output``, ``chunk_rows``."""
        sep = "@" if "@" in model else "/"
        name, _, ref = model.partition(sep)
        params = {"model": name, "ref": ref or "latest", "dataset": dataset, **options}
        return self.submit("score", params, timeout_seconds=timeout_seconds)

    def submit_automl(
        self, dataset: str, target: str, *, timeout_seconds: float | None = None, **options: Any
    ) -> dict[str, Any]:
        """Queue an ``automl`` job; ``options`` are the fields of ``AutoMLRequest``
        (time_budget, metric, ``refit_full=False`` to keep the model fitted without the
        test split...)."""
        params = {"dataset": dataset, "target": target, **options}
        return self.submit("automl", params, timeout_seconds=timeout_seconds)

    def leaderboard(
        self, job_id: int, *, sort: str | None = None, descending: bool | None = None
    ) -> dict[str, Any]:
        """An ``automl`` job's leaderboard (live while it runs), optionally sorted."""
        params: dict[str, Any] = {}
        if sort is not None:
            params["sort"] = sort
        if descending is not None:
            params["descending"] = descending
        return self._call("GET", f"/api/v1/jobs/{job_id}/leaderboard", params=params).json()

    def get(self, job_id: int) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/jobs/{job_id}").json()

    def list(self, *, state: str | None = None, limit: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
        return self._call("GET", "/api/v1/jobs", params=params).json()

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self._call("DELETE", f"/api/v1/jobs/{job_id}").json()

    def events(self, job_id: int, *, after: int = 0) -> builtins.list[dict[str, Any]]:
        return self._call("GET", f"/api/v1/jobs/{job_id}/events", params={"after": after}).json()

    def wait(
        self, job_id: int, *, poll: float = 0.5, timeout: float | None = None, on_update: Any = None
    ) -> dict[str, Any]:
        """Poll a job until it ends (or ``timeout`` passes); returns its last state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if on_update is not None:
                on_update(job)
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
            if deadline is not None and time.monotonic() > deadline:
                return job
            time.sleep(poll)


class Models(_Resource):
    """Registered models on the server."""

    def list(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/models").json()

    def get(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/models/{name}").json()

    def version(self, name: str, ref: int | str = "latest") -> dict[str, Any]:
        return self._call("GET", f"/api/v1/models/{name}/versions/{ref}").json()

    def set_alias(self, name: str, alias: str, version: int | str) -> dict[str, Any]:
        return self._call(
            "PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": version}
        ).json()

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def delete(self, name: str, version: int | str | None = None, *, force: bool = False) -> None:
        """Delete one version of a model, or the whole model when no version is given."""
        if version is None:
            self._call("DELETE", f"/api/v1/models/{name}")
        else:
            params = {"force": "true"} if force else {}
            self._call("DELETE", f"/api/v1/models/{name}/versions/{version}", params=params)

    def artifact(self, name: str, ref: int | str, artifact: str, *, format: str = "png") -> bytes:
        return self._call(
            "GET",
            f"/api/v1/models/{name}/versions/{ref}/artifacts/{artifact}",
            params={"format": format},
        ).content

    def export(
        self, name: str, ref: int | str, dest: str | Path, *, format: str = "mlflow"
    ) -> Path:
        """Save a version as an MLflow model directory (unpacked into ``dest``) or an ONNX file."""
        import io
        import zipfile

        data = self._call(
            "GET", f"/api/v1/models/{name}/versions/{ref}/export", params={"format": format}
        ).content
        dest = Path(dest)
        if format == "onnx":
            dest.write_bytes(data)
            return dest
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                # Entries are "<stem>/<file>" written by the server; only the file name is kept.
                (dest / Path(member).name).parent.mkdir(parents=True, exist_ok=True)
                (dest / Path(member).name).write_bytes(zf.read(member))
        return dest

    def download(self, name: str, ref: int | str = "latest") -> bytes:
        """The model file (skops)."""
        return self._call("GET", f"/api/v1/models/{name}/versions/{ref}/download").content


class Monitoring(_Resource):
    """Drift, performance and alerts of served models."""

    def drift(
        self,
        name: str,
        ref: int | str = "latest",
        *,
        since: str | None = None,
        columns: list[str] | None = None,
    ) -> dict[str, Any]:
        """Drift of a model version's logged traffic against its training reference."""
        params = {"since": since, "columns": ",".join(columns) if columns else None}
        return self._call(
            "GET", f"/api/v1/models/{name}/{ref}/drift", params=_drop_none(params)
        ).json()

    def dataset_drift(
        self, reference: str, current: str, *, columns: list[str] | None = None
    ) -> dict[str, Any]:
        """Drift between two dataset versions (``NAME`` or ``NAME@VERSION``)."""
        params = {"reference": reference, "current": current}
        if columns:
            params["columns"] = ",".join(columns)
        return self._call("GET", "/api/v1/drift", params=params).json()

    def reference(self, name: str, ref: int | str = "latest") -> dict[str, Any]:
        return self._call("GET", f"/api/v1/models/{name}/{ref}/reference").json()

    def timeline(
        self, name: str, ref: int | str = "latest", *, since: str | None = None, window: str = "1d"
    ) -> dict[str, Any]:
        """Volume, latency and drift share per time window."""
        params = _drop_none({"since": since, "window": window})
        return self._call("GET", f"/api/v1/models/{name}/{ref}/monitoring", params=params).json()

    def add_labels(self, name: str, labels: list[dict[str, Any]]) -> dict[str, Any]:
        """Ground truth for logged predictions: ``[{"request_id", "label", "row"?}]``."""
        return self._call("POST", f"/api/v1/models/{name}/labels", json={"labels": labels}).json()

    def performance(
        self,
        name: str,
        ref: int | str = "latest",
        *,
        since: str | None = None,
        window: str | None = None,
        dataset: str | None = None,
    ) -> dict[str, Any]:
        """Metrics on labelled logged predictions, or on a labelled ``dataset``."""
        params = _drop_none({"since": since, "window": window, "dataset": dataset})
        return self._call("GET", f"/api/v1/models/{name}/{ref}/performance", params=params).json()

    def alerts(self, *, model: str | None = None, alerts_only: bool = False) -> dict[str, Any]:
        params = _drop_none({"model": model, "alerts_only": alerts_only or None})
        return self._call("GET", "/api/v1/alerts", params=params).json()

    def check(self, model: str | None = None) -> dict[str, Any]:
        """Run monitoring checks now (one ``NAME@ALIAS`` or every monitored model)."""
        return self._call(
            "POST", "/api/v1/alerts/check", params=_drop_none({"model": model})
        ).json()


class Pipelines(_Resource):
    """Pipeline runs: start one from a pipeline file, follow it, compare runs."""

    def run(
        self,
        pipeline: str,
        *,
        params: dict[str, Any] | None = None,
        from_step: str | None = None,
        inputs: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Queue a run of a pipeline file (its YAML text); the run, steps pending."""
        body = _drop_none(
            {"pipeline": pipeline, "params": params or {}, "from_step": from_step, "inputs": inputs}
        )
        return self._call("POST", "/api/v1/pipelines/runs", json=body).json()

    def get(self, run_id: int) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/pipelines/runs/{run_id}").json()

    def list(self, *, pipeline: str | None = None, limit: int = 50) -> dict[str, Any]:
        params = _drop_none({"pipeline": pipeline, "limit": limit})
        return self._call("GET", "/api/v1/pipelines/runs", params=params).json()

    def compare(self, *run_ids: int) -> dict[str, Any]:
        params = [("ids", str(i)) for i in run_ids]
        return self._call("GET", "/api/v1/pipelines/runs/compare", params=params).json()

    def wait(self, run_id: int, *, poll: float = 1.0, on_update: Any = None) -> dict[str, Any]:
        """Poll a run until it ends; ``on_update(run)`` after each look."""
        while True:
            run = self.get(run_id)
            if on_update is not None:
                on_update(run)
            if run["state"] in ("succeeded", "failed"):
                return run
            time.sleep(poll)


def _drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class Client:
    """An HTTP client for an mlharbor server."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.datasets = Datasets(self)
        self.jobs = Jobs(self)
        self.models = Models(self)
        self.monitoring = Monitoring(self)
        self.pipelines = Pipelines(self)

    def train(
        self, dataset: str, target: str, *, wait: bool = True, **options: Any
    ) -> dict[str, Any]:
        """Train one model as a job; with ``wait``, return the finished job (or raise the
        error it failed with)."""
        job = self.jobs.submit_train(dataset, target, **options)
        return raise_for_job(self.jobs.wait(job["id"])) if wait else job

    def score(
        self, model: str, dataset: str, *, wait: bool = True, **options: Any
    ) -> dict[str, Any]:
        """Score a stored dataset with ``model`` (``NAME@ALIAS``) as a job; with ``wait``,
        return the finished job, whose result names the scored dataset to download (or raise
        the error it failed with)."""
        job = self.jobs.submit_score(model, dataset, **options)
        return raise_for_job(self.jobs.wait(job["id"])) if wait else job

    def automl(
        self,
        dataset: str,
        target: str,
        *,
        time_budget: float = 60.0,
        wait: bool = True,
        **options: Any,
    ) -> dict[str, Any]:
        """Run AutoML as a job; with ``wait``, return the finished job (leaderboard in
        ``result``, the winner registered with alias ``best_model``; or raise the error it
        failed with)."""
        job = self.jobs.submit_automl(dataset, target, time_budget=time_budget, **options)
        return raise_for_job(self.jobs.wait(job["id"])) if wait else job

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise the library's exception for an error answer."""
        response = self._http.request(method, path, **kwargs)
        _raise_for_problem(response)
        return response

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        """A streamed request, checked for errors before the body is read."""
        return _CheckedStream(self._http.stream(method, path, **kwargs))

    def health(self) -> dict[str, Any]:
        """The server's readiness."""
        return self.request("GET", "/readyz").json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _CheckedStream:
    def __init__(self, manager: Any) -> None:
        self._manager = manager

    def __enter__(self) -> httpx.Response:
        response = self._manager.__enter__()
        if not response.is_success:
            response.read()
            _raise_for_problem(response)
        return response

    def __exit__(self, *exc: Any) -> None:
        self._manager.__exit__(*exc)

"""Run by the MLflow environment's Python (not by pytest): what a tracking server holds.

Reads a JSON request on stdin — ``{"uri", "experiment", "predict": {run_id: rows}}`` — and
prints, as JSON, every run of the experiment as ``MlflowClient`` sees it (info, params,
metrics, tags, every artifact path) and, for each run in ``predict``, what its logged model
(``runs:/<id>/model``, loaded with ``mlflow.pyfunc``) predicts for the rows.
"""

from __future__ import annotations

import json
import sys

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient


def artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out.extend(artifacts(client, run_id, item.path) if item.is_dir else [item.path])
    return out


def main() -> None:
    request = json.load(sys.stdin)
    mlflow.set_tracking_uri(request["uri"])
    client = MlflowClient(request["uri"])
    experiment = client.get_experiment_by_name(request["experiment"])
    runs = []
    if experiment is not None:
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            runs.append(
                {
                    "run_id": run.info.run_id,
                    "name": run.info.run_name,
                    "status": run.info.status,
                    "start_time": run.info.start_time,
                    "end_time": run.info.end_time,
                    "params": run.data.params,
                    "metrics": run.data.metrics,
                    "tags": run.data.tags,
                    "artifacts": artifacts(client, run.info.run_id),
                    "datasets": [
                        {
                            "name": d.dataset.name,
                            "digest": d.dataset.digest,
                            "source": d.dataset.source,
                            "context": {t.key: t.value for t in d.tags}.get("mlflow.data.context"),
                        }
                        for d in (run.inputs.dataset_inputs if run.inputs else [])
                    ],
                }
            )
    predictions = {}
    for run_id, rows in (request.get("predict") or {}).items():
        model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
        # The rows as they come: the export casts them (integers where training had floats).
        predictions[run_id] = [str(p) for p in model.predict(pd.DataFrame(rows))]
    json.dump(
        {
            "experiment_id": getattr(experiment, "experiment_id", None),
            "runs": runs,
            "predictions": predictions,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()

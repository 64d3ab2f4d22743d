from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlharbor.errors import InvalidInputError
from mlharbor.jobs import JobsConfig, register, registered_kinds, unregister
from mlharbor.jobs.builtin import noop
from mlharbor.jobs.handlers import handler_path, load_handler


def test_kinds_register_by_function_import_path_or_decorator_and_load_back() -> None:
    try:
        assert register("t_noop_fn", noop) is noop
        register("t_noop_path", "mlharbor.jobs.builtin:noop")
        assert register("t_noop_deco")(noop) is noop
        kinds = registered_kinds()
        assert kinds["t_noop_fn"] == kinds["t_noop_deco"] == "mlharbor.jobs.builtin:noop"
        assert load_handler(handler_path("t_noop_path")) is noop
    finally:
        for kind in ("t_noop_fn", "t_noop_path", "t_noop_deco"):
            unregister(kind)


def test_a_local_function_cannot_be_a_handler_because_workers_could_not_import_it() -> None:
    def local(ctx, params):  # type: ignore[no-untyped-def]
        return {}

    with pytest.raises(ValueError, match="module-level"):
        register("t_local", local)
    assert "t_local" not in registered_kinds()


def test_unknown_kind_names_itself() -> None:
    with pytest.raises(InvalidInputError, match="'nope'"):
        handler_path("nope")


def test_config_reads_job_settings_when_the_lead_adds_them() -> None:
    settings = SimpleNamespace(job_lease_seconds=99.0, job_max_attempts=5)
    config = JobsConfig.from_settings(settings, poll_seconds=0.1)
    assert (config.lease_seconds, config.max_attempts, config.poll_seconds) == (99.0, 5, 0.1)
    assert config.heartbeat_seconds == JobsConfig().heartbeat_seconds

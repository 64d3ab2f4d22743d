"""The type check's configuration keeps its promises: strict on every core package, untyped
libraries excused one by one, and the exceptions few and named (``make test`` runs mypy with
it; this pins what it checks)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORE = [
    "config",
    "errors",
    "store",
    "data",
    "prep",
    "models",
    "registry",
    "jobs",
    "serving",
    "monitoring",
]
#: --strict's per-module flags (mypy --help); `strict = true` in an override would switch
#: strict mode on for every module (mypy issue #11401), so they are written out.
STRICT_FLAGS = [
    "disallow_any_generics",
    "disallow_subclassing_any",
    "disallow_untyped_calls",
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "disallow_untyped_decorators",
    "warn_return_any",
    "no_implicit_reexport",
    "extra_checks",
]
#: The scikit-learn-facing modules allowed to subclass its (untyped) estimators.
SKLEARN_SUBCLASSES = {
    "mlharbor.prep.dates",
    "mlharbor.prep.text",
    "mlharbor.prep.input_step",
    "mlharbor.models.automl.ensemble",
    "mlharbor.models.automl.register",
}


def _mypy() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        config: dict[str, Any] = tomllib.load(fh)["tool"]["mypy"]
    return config


def _overrides_for(module: str) -> list[dict[str, Any]]:
    """The override sections whose patterns match ``module`` (exact or ``package.*``)."""
    found = []
    for section in _mypy().get("overrides", []):
        patterns = section["module"]
        patterns = [patterns] if isinstance(patterns, str) else patterns
        for pattern in patterns:
            base = pattern.removesuffix(".*")
            exact = pattern == module
            if exact or (
                pattern.endswith(".*") and (module == base or module.startswith(base + "."))
            ):
                found.append(section)
                break
    return found


def _flag(module: str, name: str) -> Any:
    """The value mypy uses for ``name`` in ``module``: the last matching override wins."""
    value = _mypy().get(name)
    for section in _overrides_for(module):
        value = section.get(name, value)
    return value


def test_every_core_package_is_checked_strictly() -> None:
    modules = [f"mlharbor.{name}" for name in CORE]
    modules += [
        f"mlharbor.{name}.anything" for name in CORE if (ROOT / "src/mlharbor" / name).is_dir()
    ]
    not_strict = [(m, flag) for m in modules for flag in STRICT_FLAGS if _flag(m, flag) is not True]
    assert not_strict == []


def test_strict_is_never_switched_on_by_an_override() -> None:
    assert [s["module"] for s in _mypy().get("overrides", []) if "strict" in s] == []


def test_only_the_named_estimator_modules_may_subclass_untyped_classes() -> None:
    relaxed = {
        module
        for section in _mypy().get("overrides", [])
        if section.get("disallow_subclassing_any") is False
        for module in section["module"]
    }
    assert relaxed == SKLEARN_SUBCLASSES
    assert all(_flag(m, "disallow_subclassing_any") is False for m in SKLEARN_SUBCLASSES)
    assert _flag("mlharbor.prep.factory", "disallow_subclassing_any") is True


def test_untyped_libraries_are_excused_by_name_not_globally() -> None:
    config = _mypy()
    assert "ignore_missing_imports" not in config
    excused = [
        m
        for section in config.get("overrides", [])
        if section.get("ignore_missing_imports")
        for m in section["module"]
    ]
    assert excused and not any(m.startswith("mlharbor") for m in excused)
    assert "sklearn.*" in excused and "pandas.*" in excused


def test_an_ignore_must_name_its_error_code_and_be_needed() -> None:
    config = _mypy()
    assert "ignore-without-code" in config["enable_error_code"]
    assert config["warn_unused_ignores"] is True
    assert config["files"] == ["src/mlharbor"]

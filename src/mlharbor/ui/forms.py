"""Forms built from what the core declares: model parameters from the catalog, prediction
inputs from a model's signature, and the copy-paste snippets for a model version."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Integral, Real
from typing import Any
from urllib.parse import quote

import pandas as pd

from mlharbor.data.tasks import Task
from mlharbor.prep.inputs import truth_value

#: Parameters shown first for any model that has them; the rest sit under "All parameters".
COMMON = (
    "n_estimators",
    "max_depth",
    "learning_rate",
    "num_leaves",
    "max_iter",
    "min_samples_leaf",
    "C",
    "alpha",
    "l1_ratio",
    "n_neighbors",
    "kernel",
    "class_weight",
    "strategy",
)
#: Parameters that are mlharbor's business (seeding, threading, logging), not the user's.
HIDDEN = {"random_state", "n_jobs", "verbose", "verbosity", "silent", "warm_start", "copy_X"}


@dataclass
class ParamField:
    """One input of the model-parameter form."""

    name: str
    kind: str  # "int", "float", "bool", "choice" or "text"
    default: Any
    featured: bool
    minimum: float | None = None
    maximum: float | None = None
    choices: list[str] = field(default_factory=list)

    @property
    def default_text(self) -> str:
        """The default as the input shows it (``None`` shows as an empty field)."""
        if self.default is None:
            return ""
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


def _bounds(constraints: list[Any]) -> tuple[float | None, float | None, list[str], set[str]]:
    """The union of the numeric intervals, the string options, and the number kinds allowed.

    A parameter may accept several intervals (``min_samples_split``: an int ≥ 2 or a
    fraction in (0, 1]); the form only enforces what holds for all of them together.
    """
    intervals = [c for c in constraints if type(c).__name__ == "Interval"]
    options = sorted(o for c in constraints if type(c).__name__ == "StrOptions" for o in c.options)
    kinds = {"int" if c.type is Integral else "float" for c in intervals}
    lows = [c.left if c.closed in ("left", "both") else None for c in intervals]
    highs = [
        c.right
        if c.closed in ("right", "both") and c.right is not None and math.isfinite(c.right)
        else None
        for c in intervals
    ]
    # A bound holds for the union only when every interval has one.
    known_lows = [x for x in lows if x is not None]
    known_highs = [x for x in highs if x is not None]
    low = min(known_lows) if lows and len(known_lows) == len(lows) else None
    high = max(known_highs) if highs and len(known_highs) == len(highs) else None
    return low, high, options, kinds


def _field(name: str, default: Any, constraints: list[Any] | None, featured: bool) -> ParamField:
    constraints = [c for c in constraints or [] if type(c).__name__ != "Hidden"]
    low, high, options, kinds = _bounds(constraints)
    if isinstance(default, bool):
        return ParamField(name, "bool", default, featured)
    if options and not kinds and (default is None or isinstance(default, str)):
        # Every value the estimator takes is offered, and the default is the one selected:
        # a select whose default is not among its options shows (and sends) another value.
        choices = [*options, *(["true", "false"] if "boolean" in constraints else [])]
        if default is not None and default not in choices:
            choices.insert(0, default)
        if default is None or None in constraints:
            choices.append("")
        return ParamField(name, "choice", default, featured, choices=choices)
    if kinds == {"int"} or (not kinds and isinstance(default, Integral)):
        return ParamField(name, "int", default, featured, low, high)
    if kinds or isinstance(default, Real):
        if options:  # a number or a word (max_features: 0.5 or "sqrt")
            return ParamField(name, "text", default, featured)
        return ParamField(name, "float", default, featured, low, high)
    return ParamField(name, "text", default, featured)


def _deprecated(default: Any, constraints: list[Any] | None) -> bool:
    """Whether ``default`` is a sentinel only a hidden constraint allows (scikit-learn's
    ``penalty="deprecated"``): the parameter is on its way out, so the form leaves it alone."""
    if not isinstance(default, str) or not constraints:
        return False
    hidden = [c.constraint for c in constraints if type(c).__name__ == "Hidden"]
    shown = [c for c in constraints if type(c).__name__ != "Hidden"]
    in_hidden = any(default in getattr(c, "options", ()) for c in hidden)
    return in_hidden and not any(default in getattr(c, "options", ()) for c in shown)


@lru_cache(maxsize=64)
def param_fields(model: str, task: str) -> tuple[ParamField, ...]:
    """The parameter form of ``model`` for ``task``: mlharbor's defaults, featured first."""
    from mlharbor.models.catalog import get_spec  # scikit-learn and LightGBM: when drawn

    spec = get_spec(model)
    cls = spec.estimator_class(Task(task))
    defaults = {**cls().get_params(deep=False), **spec.defaults(Task(task))}
    constraints = getattr(cls, "_parameter_constraints", {})
    featured = set(spec.defaults(Task(task))) | set(COMMON)
    fields = [
        _field(name, value, constraints.get(name), name in featured)
        for name, value in sorted(defaults.items())
        if name not in HIDDEN
        and not callable(value)
        and not _deprecated(value, constraints.get(name))
    ]
    return tuple(sorted(fields, key=lambda f: (not f.featured, f.name)))


def model_choices(task: str | None) -> list[dict[str, str]]:
    """The models that serve ``task`` (all models when unknown), for a select box."""
    from mlharbor.models.catalog import get_spec, model_names

    names = model_names(Task(task) if task else None)
    return [{"name": n, "title": get_spec(n).title} for n in names]


@dataclass
class InputField:
    """One input of the "try it" prediction form, built from the training data's profile."""

    name: str
    kind: str  # "number", "bool", "choice", "date", "datetime" or "text"
    dtype: str
    example: Any = None
    #: bool and choice: ``(value, label, count)``; a value is sent as JSON, as trained on.
    choices: list[tuple[str, str, int | None]] = field(default_factory=list)
    selected: str | None = None  # the JSON of the chosen option; ``None``: "other…"
    minimum: Any = None
    maximum: Any = None
    integer: bool = False  # number: whole numbers; choice: integer codes (1, 2, 3)
    complete: bool = True  # the levels listed are every level seen in training
    nullable: bool = True  # training had missing values here (or nothing is known)
    hint: str = ""

    @property
    def text(self) -> str:
        """The example as a text input shows it."""
        return "" if self.example is None else str(self.example)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _number_text(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _bool_field(f: InputField, col: dict[str, Any]) -> None:
    labels = col.get("labels") or {"true": True, "false": False}
    counts = {_json(v): n for v, n in col.get("levels") or []}
    f.choices = [
        (
            _json(labels[k]),
            str(labels[k]).lower() if isinstance(labels[k], bool) else str(labels[k]),
            counts.get(_json(labels[k])),
        )
        for k in ("true", "false")
    ]
    # 1/0 too: a 0/1 column's example row is one of its values, not a missing one.
    truth = None if f.example is None else truth_value(f.example)
    f.selected = "null" if truth is None else _json(labels["true" if truth else "false"])
    if counts:
        f.hint = " · ".join(f"{label}: {n:,}" for _, label, n in f.choices if n is not None)


def _choice_field(f: InputField, col: dict[str, Any]) -> None:
    levels = col.get("levels") or []
    f.choices = [(_json(v), str(v), n) for v, n in levels]
    total = int(col.get("n_levels") or len(levels))
    f.complete = total <= len(levels)
    known = {_json(v) for v, _ in levels}
    f.selected = (
        "null" if f.example is None else (_json(f.example) if _json(f.example) in known else None)
    )
    f.hint = f"{total:,} level{'s' if total != 1 else ''} in training" + (
        "" if f.complete else f", the {len(levels)} most frequent listed"
    )


def input_fields(signature: dict[str, Any], example: dict[str, Any] | None) -> list[InputField]:
    """The prediction form for a model's input signature, pre-filled from an example row.

    Versions registered with a profile of their training data (levels, ranges, yes/no
    spellings) get selects, ranges and warnings; older ones a form by type alone.
    """
    example = example or {}
    out = []
    for col in signature.get("inputs") or []:
        name = str(col["name"])
        dtype = str(col.get("dtype") or "")
        semantic = col.get("semantic_type")
        storage = str(col.get("storage_type") or "")
        f = InputField(name, "text", dtype, example.get(name))
        if "n_missing" in col:
            f.nullable = int(col["n_missing"]) > 0
        span = col.get("range") or {}
        if dtype.startswith(("bool", "boolean")) or semantic == "boolean":
            f.kind = "bool"
            _bool_field(f, col)
        elif semantic in ("categorical", "integer_categorical") and col.get("levels"):
            f.kind = "choice"
            f.integer = semantic == "integer_categorical"
            if f.integer and isinstance(f.example, float) and f.example.is_integer():
                f.example = int(f.example)
            _choice_field(f, col)
        elif dtype.startswith(("int", "uint", "float", "double", "decimal")):
            f.kind = "number"
            f.integer = bool(col.get("integer"))
            if f.integer and isinstance(f.example, float) and f.example.is_integer():
                f.example = int(f.example)  # 71, as the data has it, not 71.0
            if span:
                f.minimum, f.maximum = span["min"], span["max"]
                f.hint = (
                    f"seen {_number_text(span['min'])} to {_number_text(span['max'])}, "
                    f"median {_number_text(span['median'])}"
                )
        elif semantic == "datetime" or dtype.startswith(("datetime", "timestamp")):
            date_only = col.get("date_only", storage.startswith("date32") or storage == "date")
            f.kind = "date" if date_only else "datetime"
            f.example = _as_date(f.example, date_only)
            if span:
                f.minimum, f.maximum = span["min"], span["max"]
                # 2024-01-01 03:18, as people write it, not ISO's 2024-01-01T03:18.
                low, high = (str(span[k]).replace("T", " ") for k in ("min", "max"))
                f.hint = f"seen {low} to {high}"
        if col.get("n_missing"):
            f.hint += ("; " if f.hint else "") + f"{int(col['n_missing']):,} missing in training"
        out.append(f)
    return out


def _as_date(value: Any, date_only: bool) -> str | None:
    """A value as an ``<input type=date|datetime-local>`` takes it (``None`` if not a date)."""
    if value is None or value == "":
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.strftime("%Y-%m-%d" if date_only else "%Y-%m-%dT%H:%M")


def snippets(
    base_url: str, name: str, ref: str, example: dict[str, Any], *, auth: bool
) -> dict[str, str]:
    """Copy-paste calls of the model at ``ref``: curl, Python (httpx) and MLflow's protocol."""
    row = _shell_quoted(json.dumps([example], default=str))
    pretty = json.dumps(example, indent=4, default=str).replace("\n", "\n    ")
    columns = list(example)
    split = _shell_quoted(
        json.dumps(
            {"dataframe_split": {"columns": columns, "data": [[example[c] for c in columns]]}},
            default=str,
        )
    )
    url = f"{base_url}/api/v1/models/{quote(name, safe='')}/{quote(ref, safe='')}"
    key = ' \\\n  -H "Authorization: Bearer $MLHARBOR_KEY"' if auth else ""
    headers = (
        '    headers={"Authorization": "Bearer " + os.environ["MLHARBOR_KEY"]},\n' if auth else ""
    )
    return {
        "curl": f"curl -H 'content-type: application/json'{key} \\\n"
        f"  {url}/predict \\\n  -d '{row}'",
        "python": ("import os\n" if auth else "") + "import httpx\n\n"
        f'response = httpx.post(\n    "{url}/predict",\n'
        f"    json=[{pretty}],\n{headers})\n"
        "print(response.json()['predictions'])",
        "mlflow": f"curl -H 'content-type: application/json'{key} \\\n"
        f"  {url}/invocations \\\n  -d '{split}'",
    }


def _shell_quoted(text: str) -> str:
    """``text`` safe inside single quotes in a POSIX shell."""
    return text.replace("'", "'\\''")

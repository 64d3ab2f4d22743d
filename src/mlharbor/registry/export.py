"""Export a model version for other tools: an MLflow model directory, or ONNX.

The MLflow directory holds the ``MLmodel`` file (``sklearn`` and ``python_function``
flavors, the input columns in its metadata), the pickled pipeline, ``conda.yaml``,
``python_env.yaml`` and ``requirements.txt``, so ``mlflow models serve -m DIR`` serves it.
The MLflow side has no mlharbor installed: a pipeline with mlharbor's own steps (the input
step, dates, text, AutoML ensembles) carries their modules in ``code/`` (MLflow's
``code_paths``: put first on ``sys.path`` when the model loads); those modules import only
scikit-learn, SciPy, pandas, NumPy and each other. The ``python_function`` flavor loads
through :mod:`mlharbor.registry.pyfunc_loader`, so that a refused value reaches
``mlflow models serve``'s answer as a 400 naming the column. Any other step that is not
scikit-learn's or LightGBM's is named in the refusal.
"""

from __future__ import annotations

import json
import pickle
import platform
import shutil
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata, util
from pathlib import Path
from typing import Any

from mlharbor.errors import ConflictError, InvalidInputError
from mlharbor.registry.records import ModelVersionRecord

FORMATS = ("mlflow", "onnx")
#: Top-level packages whose classes an MLflow environment can load from requirements.txt.
PORTABLE = {"sklearn": "scikit-learn", "lightgbm": "lightgbm", "numpy": "numpy"}
#: mlharbor's modules an exported model may carry in ``code/``: each imports only
#: scikit-learn, SciPy, pandas, NumPy and these modules, never the rest of mlharbor; mlflow
#: only inside the functions MLflow calls (a test pins that).
CARRIED = frozenset(
    {
        "mlharbor.prep.dates",
        "mlharbor.prep.text",
        "mlharbor.prep.inputs",
        "mlharbor.prep.input_step",
        "mlharbor.models.automl.ensemble",
        "mlharbor.registry.pyfunc_loader",
    }
)
#: The ``python_function`` loader of an export with the input step: its refusals reach
#: ``mlflow models serve``'s answer as MLflow errors (400, the message naming the column).
#: It imports mlflow only inside the functions MLflow calls.
LOADER = "mlharbor.registry.pyfunc_loader"
#: The exported pipeline's first step: production rows cast as ``/predict`` casts them.
INPUT_STEP = "mlharbor_inputs"
CODE_DIR = "code"
_DIST = {**PORTABLE, "scipy": "scipy"}
_MLFLOW_TYPES = {"float": "double", "double": "double", "int": "long", "uint": "long"}
#: MLflow's numeric column types: fed to ONNX as numbers.
_NUMBERS = {"double", "long"}


def steps(model: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every estimator in a pipeline with its path (``preprocess/onehot``), depth first."""
    yield path or type(model).__name__, model
    children: list[tuple[str, Any]] = []
    if hasattr(model, "steps"):
        children = [(name, step) for name, step in model.steps]
    elif hasattr(model, "transformers_"):
        children = [(name, t) for name, t, _ in model.transformers_]
    for name, child in children:
        if isinstance(child, str):  # "drop" / "passthrough"
            continue
        yield from steps(child, f"{path}/{name}" if path else name)


def check_portable(pipeline: Any) -> set[str]:
    """The packages (``sklearn``, ``lightgbm``) and mlharbor modules (:data:`CARRIED`) the
    pipeline needs; ``InvalidInputError`` naming a step that is none of them."""
    needed = {"sklearn"}
    for where, step in steps(pipeline):
        module = type(step).__module__
        package = module.split(".")[0]
        if package in PORTABLE or module in CARRIED:
            needed.add(package if package in PORTABLE else module)
            continue
        raise InvalidInputError(
            f"step {where!r} is a {module}.{type(step).__name__}, which an MLflow environment "
            "cannot load without mlharbor; only pipelines of scikit-learn and LightGBM steps "
            f"and mlharbor's own {', '.join(sorted(CARRIED - {LOADER}))} export to MLflow. "
            "Export it as ONNX, or serve it from mlharbor (POST "
            "/api/v1/models/{name}/{ref}/invocations speaks MLflow's protocol)",
            step=where,
        )
    return needed


def _carry(modules: set[str], out: Path) -> None:
    """Copy the mlharbor ``modules`` into ``out/code`` as a package of their own, each
    parent package an empty ``__init__.py`` (mlharbor's own would import all of it)."""
    for module in sorted(modules):
        spec = util.find_spec(module)
        if spec is None or spec.origin is None:  # pragma: no cover - part of mlharbor
            raise InvalidInputError(f"mlharbor's module {module} cannot be found to export")
        parts = module.split(".")
        folder = out / CODE_DIR
        for part in parts[:-1]:
            folder = folder / part
            folder.mkdir(parents=True, exist_ok=True)
            init = folder / "__init__.py"
            if not init.exists():
                init.write_text('"""Carried by an mlharbor export: only what the model loads."""\n')
        shutil.copyfile(spec.origin, folder / f"{parts[-1]}.py")


def export_mlflow(pipeline: Any, version: ModelVersionRecord, out: Path) -> Path:
    """Write ``version``'s pipeline as an MLflow model directory at ``out``.

    Raises
    ------
    InvalidInputError
        A step that MLflow could not load (named).
    ConflictError
        ``out`` exists and is not an empty directory.
    """
    checked = bool(version.signature.get("inputs"))
    if checked:
        pipeline = with_input_step(pipeline, version)
    needed = check_portable(pipeline)
    carried = needed & CARRIED
    if checked:  # the step and the loader both need the casts
        carried |= {LOADER, "mlharbor.prep.inputs"}
    packages = needed - carried
    if carried:  # what the carried modules import besides scikit-learn's own dependencies
        packages.add("scipy")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConflictError(f"{out} already exists and is not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pkl").write_bytes(pickle.dumps(pipeline, protocol=4))
    _carry(carried, out)
    requirements = [f"{_DIST[p]}=={_version(_DIST[p])}" for p in sorted(packages)]
    requirements += [f"pandas=={_version('pandas')}", "mlflow-skinny"]
    python = platform.python_version()
    (out / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (out / "python_env.yaml").write_text(
        f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
    )
    conda = "\n".join(f"    - {r}" for r in requirements)
    (out / "conda.yaml").write_text(
        f"channels:\n- conda-forge\ndependencies:\n- python={python}\n- pip\n- pip:\n{conda}\n"
        "name: mlflow-env\n"
    )
    loader = LOADER if checked else "mlflow.sklearn"
    (out / "MLmodel").write_text(_mlmodel(version, python, code=bool(carried), loader=loader))
    return out


def with_input_step(pipeline: Any, version: ModelVersionRecord) -> Any:
    """``pipeline`` behind an :class:`~mlharbor.prep.input_step.InputTypes` step fitted on the
    version's signature: what ``pandas.read_csv``, ``read_parquet`` or a JSON body makes of
    production rows is cast as mlharbor's ``/predict`` casts it (``True`` becomes the
    ``"true"`` the training file spelled; integers where training had floats are numbers),
    or refused naming the column."""
    from sklearn.pipeline import Pipeline

    from mlharbor.prep.input_step import InputTypes

    inputs = InputTypes(columns=version.signature["inputs"]).fit()
    return Pipeline([(INPUT_STEP, inputs), ("model", pipeline)])


def _mlmodel(version: ModelVersionRecord, python: str, *, code: bool, loader: str) -> str:
    # No MLflow ``signature``: MLflow enforces its column types before the model sees a row,
    # and none of them takes what ``/predict`` takes (a "string" column refuses the booleans
    # ``read_csv`` makes of true/false, "double" refuses integers, "long" a gap, every type
    # a column read empty, as float NaN); its "any" type makes ``mlflow models serve``
    # refuse every CSV body. The columns are listed in the metadata, and the pipeline's
    # first step casts each one, or names it in its refusal.
    inputs = json.dumps([_column(c) for c in version.signature.get("inputs", [])])
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    # JSON strings are valid YAML scalars, so every value is written with json.dumps.
    return "\n".join(
        [
            "flavors:",
            "  python_function:",
            "    env:",
            "      conda: conda.yaml",
            "      virtualenv: python_env.yaml",
            f"    code: {CODE_DIR if code else 'null'}",
            f"    loader_module: {loader}",
            "    model_path: model.pkl",
            "    predict_fn: predict",
            f"    python_version: {python}",
            "  sklearn:",
            f"    code: {CODE_DIR if code else 'null'}",
            "    pickled_model: model.pkl",
            "    serialization_format: pickle",
            f"    sklearn_version: {_version('scikit-learn')}",
            "metadata:",
            f"  mlharbor_model: {json.dumps(version.model)}",
            f"  mlharbor_version: {version.version}",
            f"  mlharbor_inputs: {inputs}",
            f"model_uuid: {uuid.uuid4().hex}",
            f"utc_time_created: '{created}'",
            "",
        ]
    )


def _column(column: dict[str, Any]) -> dict[str, Any]:
    dtype = str(column.get("dtype") or "").lower()
    kind = next((t for p, t in _MLFLOW_TYPES.items() if dtype.startswith(p)), None)
    if kind == "long" and column.get("n_missing", 1) != 0:
        # As MLflow's own signature inference: an integer column that can be missing comes
        # to pandas as floats, which a "long" column refuses (so do versions that do not say).
        kind = "double"
    if dtype.startswith("bool"):
        kind = "boolean"
    # Missing values are allowed (required: false): the pipeline imputes them.
    return {"type": kind or "string", "name": str(column["name"]), "required": False}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with mlharbor
        return "0"


def export_onnx(pipeline: Any, version: ModelVersionRecord, out: Path) -> Path:
    """Write the pipeline as an ONNX file (one input per column) at ``out``.

    Its text inputs take the training file's spellings; the text pandas makes of a boolean
    or a whole float (``"True"``, ``"2.0"``) is mapped to them inside the graph, the map
    in ``metadata_props`` (:mod:`mlharbor.registry.onnx_spellings`).

    Raises
    ------
    InvalidInputError
        A step skl2onnx cannot convert (named), or a model with no recorded columns.
    """
    from mlharbor.registry.onnx_spellings import add_spellings, column_spellings, graph_strings

    onnx = to_onnx_model(pipeline, version)
    # Only in the file a user feeds: mlharbor's own ONNX path casts rows first (as /predict).
    spellings = column_spellings(pipeline, version, graph_strings(onnx.graph))
    onnx = add_spellings(onnx, spellings)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(onnx.SerializeToString())
    return out


def onnx_input_kinds(version: ModelVersionRecord) -> dict[str, str]:
    """``{column: "double" | "string"}``: how each input is fed to the ONNX graph."""
    kinds = {}
    for c in version.signature.get("inputs") or []:
        kinds[str(c["name"])] = "double" if _column(c)["type"] in _NUMBERS else "string"
    return kinds


def to_onnx_model(pipeline: Any, version: ModelVersionRecord) -> Any:
    """The pipeline as an ONNX model (``onnx.ModelProto``), labels and probabilities as
    plain tensors.

    Raises
    ------
    InvalidInputError
        A step skl2onnx cannot convert (named), or a model with no recorded columns.
    """
    columns = version.signature.get("inputs") or []
    if not columns:
        raise InvalidInputError("the model records no input columns; ONNX needs them")
    _check_convertible(pipeline, version)
    # skl2onnx and onnxmltools take about a second to import: only for a pipeline that may
    # convert (``serve-model`` of one that does not answers that much sooner).
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from mlharbor.registry.onnx_lightgbm import register_lightgbm_converters

    register_lightgbm_converters()
    initial = [
        (
            str(c["name"]),
            FloatTensorType([None, 1])
            if _column(c)["type"] in _NUMBERS
            else StringTensorType([None, 1]),
        )
        for c in columns
    ]
    # Probabilities as a plain tensor; a classifier without them (LinearSVC) takes no option.
    options = {
        id(s): {"zipmap": False}
        for _, s in steps(pipeline)
        if hasattr(s, "classes_") and hasattr(s, "predict_proba")
    }
    try:
        # ai.onnx.ml 3: the newest the LightGBM converter writes; scikit-learn steps fit too.
        opset = {"": 17, "ai.onnx.ml": 3}
        with warnings.catch_warnings():
            # skl2onnx's SVC converter reads ``probA_``/``probB_`` of every SVC, which
            # scikit-learn 1.9 deprecates; they are empty for ours (probabilities come from
            # CalibratedClassifierCV), so the warning says nothing about the user's model.
            warnings.filterwarnings(
                "ignore", message="Attribute `prob[AB]_` was deprecated", category=FutureWarning
            )
            onnx = to_onnx(pipeline, initial_types=initial, options=options, target_opset=opset)
    except Exception as exc:  # skl2onnx raises several types, all meaning "does not convert"
        raise InvalidInputError(
            f"model {version.model!r} version {version.version} does not convert to ONNX: "
            f"{_onnx_culprit(pipeline, exc)}",
        ) from None
    return restore_input_names(onnx, [name for name, _ in initial])


def restore_input_names(model: Any, names: list[str]) -> Any:
    """``model`` with its graph inputs called ``names`` again (in order), in place.

    skl2onnx makes input names identifiers (``sepal.length`` becomes ``sepal_length``, a
    second ``sepal_length`` becomes ``sepal_length1``) and keeps no map back, so a caller
    feeding the user's own column names was refused. ONNX names are any string: the inputs,
    and every node reading them, get the original names back. A tensor inside the graph that
    already has one of those names is renamed out of the way first.
    """
    graph = model.graph
    if len(graph.input) != len(names):
        raise InvalidInputError(
            f"the converted model has {len(graph.input)} inputs for {len(names)} columns"
        )
    renames = {inp.name: name for inp, name in zip(graph.input, names, strict=True)}
    renames = {old: new for old, new in renames.items() if old != new}
    if not renames:
        return model
    taken = tensor_names(graph)
    for clash in (set(renames.values()) & taken) - set(renames):
        fresh = clash
        while fresh in taken or fresh in renames.values():
            fresh += "_"
        renames[clash] = fresh
    _rename(graph, renames)
    return model


def tensor_names(graph: Any) -> set[str]:
    """Every tensor name ``graph`` mentions (inputs, outputs, initializers, node ends)."""
    names = {t.name for t in (*graph.input, *graph.output, *graph.initializer)}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _rename(graph: Any, renames: dict[str, str]) -> None:
    """Rename tensors everywhere ``graph`` (and any subgraph) mentions them."""
    for tensor in (*graph.input, *graph.output, *graph.initializer, *graph.value_info):
        tensor.name = renames.get(tensor.name, tensor.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
        for attribute in node.attribute:
            for sub in (attribute.g, *attribute.graphs):
                if sub.node:
                    _rename(sub, renames)


def _check_convertible(pipeline: Any, version: ModelVersionRecord) -> None:
    """Refuse what skl2onnx converts wrongly rather than not at all.

    Its ``SimpleImputer`` converter drops the missing-value indicator columns: a later step
    that checks its input width fails with a message naming that step, and one that does
    not (a tree) yields a graph that reads shifted columns.
    """
    for where, step in steps(pipeline):
        indicator = getattr(step, "indicator_", None)
        if indicator is not None and len(getattr(indicator, "features_", ())):
            raise InvalidInputError(
                f"model {version.model!r} version {version.version} does not convert to ONNX: "
                f"step {where!r} ({type(step).__name__}) adds missing-value indicator columns, "
                "which skl2onnx does not convert (the training data had missing numbers)",
                step=where,
            )


def _onnx_culprit(pipeline: Any, exc: Exception) -> str:
    text = str(exc)
    for where, step in steps(pipeline):
        name = type(step).__name__
        if name in text and not hasattr(step, "steps") and not hasattr(step, "transformers_"):
            return f"step {where!r} ({name}) is not supported by skl2onnx ({text.splitlines()[0]})"
    return text.splitlines()[0] if text else type(exc).__name__

"""Model files that would run code, touch files or reach the network are refused, wherever
the callable hides: mlharbor's allow-list decides, not the file nor its uploader."""

from __future__ import annotations

import functools
import io
import json
import operator
import os
import pydoc
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.io
import sklearn.datasets
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlharbor.config import Settings
from mlharbor.errors import ConflictError, InvalidInputError
from mlharbor.registry import dump_pipeline, load_external, load_trusted

X = np.random.default_rng(0).normal(size=(40, 3))
Y = np.arange(40) % 2

CALLABLES: dict[str, Any] = {
    "numpy.load": np.load,
    "numpy.fromfile": np.fromfile,
    "builtins.eval": eval,
    "os.system": os.system,
    "subprocess.Popen": subprocess.Popen,
    "operator.attrgetter": operator.attrgetter("__class__"),
    "partial(os.system)": functools.partial(os.system, "true"),
    "pydoc.pipepager": pydoc.pipepager,
    "sklearn.datasets.fetch_openml": sklearn.datasets.fetch_openml,
    "scipy.io.loadmat": scipy.io.loadmat,
    "pandas.read_csv": pd.read_csv,
    "partial(numpy.load)": functools.partial(np.load, "x.npy"),
}


def _hidden(func: Any, where: str) -> Any:
    """A fitted-looking pipeline with ``func`` deep inside it, at ``where``."""
    if where == "func":
        inner = FunctionTransformer(func)
    elif where == "kw_args":
        inner = FunctionTransformer(np.tanh, kw_args={"deep": {"hook": func}})
    elif where == "list":
        inner = FunctionTransformer(np.tanh, kw_args={"hooks": [1, (2, [func])]})
    else:  # a ColumnTransformer's transformer
        inner = ColumnTransformer([("x", FunctionTransformer(func), [0])])
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    return make_pipeline(make_pipeline(inner), model)


@pytest.mark.parametrize("where", ["func", "kw_args", "list", "column_transformer"])
@pytest.mark.parametrize("name", list(CALLABLES))
def test_a_callable_hidden_anywhere_is_refused(name: str, where: str) -> None:
    data = sio.dumps(_hidden(CALLABLES[name], where))
    with pytest.raises(InvalidInputError, match="never loads") as err:
        load_external(data)
    refused = " ".join(err.value.details["types"])
    for part in name.replace("partial(", "").rstrip(")").split(".")[-1:]:
        assert part in refused
    with pytest.raises(ConflictError, match="never loads"):
        load_trusted(data)


def test_the_pipepager_attack_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = FunctionTransformer(pydoc.pipepager, kw_args={"cmd": f"touch {marker}"})
    data = sio.dumps(make_pipeline(evil, LogisticRegression()))
    with pytest.raises(InvalidInputError, match=r"pydoc\.pipepager"):
        load_external(data)
    with pytest.raises(ConflictError, match=r"pydoc\.pipepager"):
        load_trusted(data)
    assert not marker.exists()


def _forged(edit: Any) -> bytes:
    """A valid file of a plain model whose schema.json was then edited by hand."""
    real = sio.dumps(make_pipeline(FunctionTransformer(np.tanh), LogisticRegression()).fit(X, Y))
    src = zipfile.ZipFile(io.BytesIO(real))
    schema = json.loads(src.read("schema.json"))
    edit(schema)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for member in src.namelist():
            if member != "schema.json":
                out.writestr(member, src.read(member))
        out.writestr("schema.json", json.dumps(schema))
    return buf.getvalue()


def _func_node(schema: dict[str, Any]) -> dict[str, Any]:
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__loader__") == "FunctionNode":
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError("no function node")


def _set(module: str, cls: str, loader: str | None = None) -> Any:
    def edit(schema: dict[str, Any]) -> None:
        node = _func_node(schema)
        node["__module__"], node["__class__"] = module, cls
        if loader:
            node["__loader__"] = loader

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _set("posix", "system"),
        _set("os", "system", "ObjectNode"),
        _set("os", "system", "TypeNode"),
        _set("os", "system", "NdArrayNode"),  # an "array" built by calling its class
        _set("builtins", "eval", "JsonNode"),
        _set("sklearn.utils.validation", "check_array"),  # allowed only inside a partial
        _set("sklearn.pipeline", "Pipeline", "MethodNode"),
        _set("numpy", "ndarray", "SomethingNew"),
        lambda s: s.update({"__module__": "os", "__class__": "system"}),
    ],
    ids=[
        "function",
        "object",
        "type",
        "ndarray",
        "json",
        "bare-check_array",
        "method",
        "unknown-loader",
        "top-level",
    ],
)
def test_a_forged_file_is_refused_whatever_loader_it_names(edit: Any) -> None:
    data = _forged(edit)
    with pytest.raises(InvalidInputError, match="never loads"):
        load_external(data)
    with pytest.raises(ConflictError, match="never loads"):
        load_trusted(data)


def test_our_own_pipelines_with_a_foreign_callable_are_not_saved() -> None:
    with pytest.raises(ConflictError, match=r"does not load from its store: builtins\.eval"):
        dump_pipeline(FunctionTransformer(eval))


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "builtins.eval",
        "subprocess.Popen",
        "pickle.loads",
        "functools.partial",
        "joblib.load",
        "nodots",
    ],
)
def test_the_operator_setting_never_trusts_the_standard_library(name: str) -> None:
    with pytest.raises(ValueError, match=r"standard library|fully qualified"):
        Settings(trusted_model_types=[name])
    assert Settings(trusted_model_types=["mypackage.features.Cleaner"]).trusted_model_types == [
        "mypackage.features.Cleaner"
    ]

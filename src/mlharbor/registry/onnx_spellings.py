"""An exported ONNX graph's text inputs take the spellings ``pandas.read_csv`` makes.

A text column is a string input of the graph, and its encoder knows only the training
file's spellings. Fed what ``pd.read_csv(...)[col].astype(str)`` makes of production rows,
a column of ``true``/``false`` arrives as ``"True"``/``"False"`` (pandas read booleans) and
a column of whole numbers with a gap as ``"2.0"`` (pandas read floats); the encoders treat
both as unseen categories, so the answers would be silently wrong.

:func:`add_spellings` puts, before the nodes that read such an input, a map of exactly those
spellings to the training file's (``"True"`` to ``"true"``, ``"2.0"`` to ``"2"``), as
mlharbor's ``/predict`` casts a boolean or a whole float (:func:`~mlharbor.prep.inputs.spell`);
in a yes/no column also the other spellings of true and false ``/predict`` reads (``"Yes"``,
``"Y"``, ``"TRUE"``, ``"1"``…, in lower, upper and title case).
It maps a spelling only when no node of the graph knows that string and the training
spelling is a level of the column: every string the graph tells apart keeps its meaning,
and what it did not know becomes what ``/predict`` makes of it. What is mapped is written
in the model's ``metadata_props`` as ``mlharbor_spellings`` (``{column: {sent: trained}}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mlharbor.prep.inputs import TOKENS, spell
from mlharbor.registry.export import onnx_input_kinds, steps, tensor_names
from mlharbor.registry.records import ModelVersionRecord

METADATA_KEY = "mlharbor_spellings"


def column_spellings(
    pipeline: Any, version: ModelVersionRecord, strings: Iterable[str]
) -> dict[str, dict[str, str]]:
    """``{column: {what read_csv makes: the training spelling}}`` for the string inputs in
    ``version``'s signature, leaving out any spelling in ``strings`` (what the graph knows).

    Examples
    --------
    For a column trained on ``true``/``false``: ``{"active": {"True": "true", "False":
    "false"}}``; on the codes ``1``/``2``: ``{"grade": {"1.0": "1", "2.0": "2"}}``.
    """
    known = set(strings)
    fitted = _fitted_levels(pipeline)
    kinds = onnx_input_kinds(version)
    out: dict[str, dict[str, str]] = {}
    for column in version.signature.get("inputs") or []:
        name = str(column["name"])
        if kinds.get(name) != "string":
            continue
        levels = fitted.get(name, set()) | _signature_levels(column)
        spellings: dict[str, str] = {}
        for truth in (True, False):
            trained = spell(truth, frozenset(levels))
            if trained in levels:
                spellings[str(truth)] = trained
        for level in levels:
            if _is_integer(level):
                spellings[f"{int(level)}.0"] = level
        labels = column.get("labels")
        if column.get("semantic_type") == "boolean" and isinstance(labels, Mapping):
            # /predict reads any spelling of true or false in a yes/no column as its label.
            for token, truth in TOKENS.items():
                label = labels.get("true" if truth else "false")
                if isinstance(label, str):
                    for sent in (token, token.upper(), token.title()):
                        spellings.setdefault(sent, label)
        spellings = {
            sent: trained
            for sent, trained in spellings.items()
            if sent not in known and sent not in levels and trained in known
        }
        if spellings:
            out[name] = dict(sorted(spellings.items()))
    return out


def add_spellings(model: Any, spellings: Mapping[str, Mapping[str, str]]) -> Any:
    """``model`` (an ``onnx.ModelProto``) with each string input of ``spellings`` mapped
    before any node reads it, and the map in its ``metadata_props``; in place."""
    from onnx import TensorProto, helper

    graph = model.graph
    taken = tensor_names(graph)
    inputs = {i.name for i in graph.input}
    nodes = []
    renames: dict[str, str] = {}
    for name, mapping in spellings.items():
        if name not in inputs or not mapping:
            continue
        sent, trained = list(mapping), [mapping[s] for s in mapping]
        codes = list(range(len(sent)))
        index, mapped, none, listed, spelled = (_fresh(f"{name}_{p}", taken) for p in _PARTS)
        graph.initializer.append(helper.make_tensor(none, TensorProto.INT64, [], [-1]))
        # CategoryMapper (ai.onnx.ml 1, which any graph imports) has no pass-through for
        # unlisted values: their index is -1, and Where keeps them as they came.
        nodes += [
            helper.make_node(
                "CategoryMapper",
                [name],
                [index],
                domain="ai.onnx.ml",
                cats_strings=sent,
                cats_int64s=codes,
                default_int64=-1,
            ),
            helper.make_node(
                "CategoryMapper",
                [index],
                [mapped],
                domain="ai.onnx.ml",
                cats_strings=trained,
                cats_int64s=codes,
                default_string="",
            ),
            helper.make_node("Greater", [index, none], [listed]),
            helper.make_node("Where", [listed, mapped, name], [spelled]),
        ]
        renames[name] = spelled
    if not nodes:
        return model
    _rename_reads(graph, renames)
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *old])
    applied = {n: dict(m) for n, m in spellings.items() if n in renames}
    helper.set_model_props(
        model,
        {**{p.key: p.value for p in model.metadata_props}, METADATA_KEY: json.dumps(applied)},
    )
    return model


def graph_strings(graph: Any) -> set[str]:
    """Every string a node attribute or initializer of ``graph`` (and its subgraphs) holds:
    the categories the graph can tell apart."""
    out: set[str] = set()
    for tensor in graph.initializer:
        out.update(_decoded(tensor.string_data))
    for node in graph.node:
        for attribute in node.attribute:
            out.update(_decoded([attribute.s, *attribute.strings, *attribute.t.string_data]))
            for sub in (attribute.g, *attribute.graphs):
                if sub.node:
                    out |= graph_strings(sub)
    return out


_PARTS = ("index", "mapped", "unlisted", "listed", "spelled")


def _fitted_levels(pipeline: Any) -> dict[str, set[str]]:
    """The text categories each fitted encoder of ``pipeline`` learned, by input column."""
    levels: dict[str, set[str]] = {}
    for _, step in steps(pipeline):
        names = getattr(step, "feature_names_in_", None)
        categories = getattr(step, "categories_", None)
        if names is None or categories is None or len(names) != len(categories):
            continue
        for name, values in zip(names, categories, strict=True):
            levels.setdefault(str(name), set()).update(v for v in values if isinstance(v, str))
    return levels


def _signature_levels(column: Mapping[str, Any]) -> set[str]:
    levels = {str(level[0]) for level in column.get("levels") or [] if level}
    labels = column.get("labels")
    if isinstance(labels, Mapping):
        levels |= {v for v in labels.values() if isinstance(v, str)}
    return levels


def _is_integer(text: str) -> bool:
    try:
        return str(int(text)) == text
    except ValueError:
        return False


def _decoded(values: Iterable[bytes]) -> set[str]:
    return {v.decode("utf-8", "replace") for v in values if v}


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _rename_reads(graph: Any, renames: Mapping[str, str]) -> None:
    """Nodes of ``graph`` and its subgraphs read ``renames[x]`` where they read ``x``."""
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        for attribute in node.attribute:
            for sub in (attribute.g, *attribute.graphs):
                if sub.node:
                    _rename_reads(sub, renames)

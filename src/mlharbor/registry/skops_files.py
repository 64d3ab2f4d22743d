"""Writing and reading skops files in time linear in the model's size.

skops 0.16 writes a large model in quadratic time, for two reasons measured with cProfile
(benchmarks/registry/README.md):

- Before writing each array it asks ``f_name not in zip_file.namelist()``
  (``skops/io/_numpy.py``, ``skops/io/_scipy.py``), and ``ZipFile.namelist()`` builds a new
  list of every member so far. Every NumPy scalar is an array of its own: a text model's
  vocabulary (one ``numpy.int64`` per term, 40,000 terms per text column, five times in
  a bagged AutoML winner) took minutes.
- It writes ``schema.json`` with ``indent=2``, which makes :mod:`json` use its
  pure-Python encoder: 1.5 s of the 2.6 s a 500-tree forest took.

:func:`dumps` is skops' own ``skops.io.dumps`` (``_persist._save``) written out over a
:class:`zipfile.ZipFile` whose ``namelist()`` is a live view (``in`` in O(1)), with a
compact ``schema.json``; the file is the same apart from the whitespace, and is read by
plain ``skops.io.loads`` (a test pins both). Only our own zip object is changed: nothing
of skops or :mod:`zipfile` is patched. It uses skops' private ``SaveContext`` and
``get_state``, pinned by constraints.txt.

:func:`plain_vocabularies` also turns the vocabularies of fitted text vectorisers into
Python ints, stored in ``schema.json`` instead of one ``.npy`` member per term.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, KeysView
from typing import Any


class _IndexedZipFile(zipfile.ZipFile):
    """A zip being written whose ``namelist()`` answers ``name in ...`` in O(1)."""

    def namelist(self) -> KeysView[str]:  # type: ignore[override]  # a view, not a list
        # A view of the name index ZipFile keeps anyway, not a fresh list per call: skops
        # only tests membership. Used for our writes only, never handed to anyone else.
        return self.NameToInfo.keys()


def dumps(obj: Any, check: Callable[[dict[str, Any]], None] | None = None) -> bytes:
    """The skops file of ``obj``; ``check(schema)`` runs before the schema is written."""
    import skops
    import skops.io  # registers skops' get_state functions
    from skops.io._utils import SaveContext, get_state

    buffer = io.BytesIO()
    with _IndexedZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zip_file:
        context = SaveContext(zip_file=zip_file)
        state = get_state(obj, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = skops.__version__
        if check is not None:
            check(state)
        zip_file.writestr("schema.json", json.dumps(state))  # compact: the C encoder
    return buffer.getvalue()


def read_schema(data: bytes) -> dict[str, Any]:
    """The parsed ``schema.json`` of a skops file (raises on anything that is not one)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zip_file:
        schema = json.loads(zip_file.read("schema.json"))
    if not isinstance(schema, dict):
        raise ValueError("schema.json does not describe an object")
    return schema


def plain_vocabularies(obj: Any) -> None:
    """Give every fitted text vectoriser in ``obj`` a vocabulary of Python ints, in place.

    scikit-learn sorts a vocabulary into ``numpy.int64`` indices; skops stores each as a
    member of the zip. As ints they are stored in ``schema.json``, and the vectoriser
    transforms exactly as before (it only looks the indices up).
    """
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.feature_extraction.text import CountVectorizer

    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, np.ndarray)):
            continue
        seen.add(id(item))
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, BaseEstimator):
            vocabulary = getattr(item, "vocabulary_", None)
            if isinstance(item, CountVectorizer) and isinstance(vocabulary, dict):
                item.vocabulary_ = {term: int(i) for term, i in vocabulary.items()}
            else:
                stack.extend(vars(item).values())

"""Model files: saved with skops, loaded only if every object in them is on mlharbor's list.

skops stores an object as a description of how to rebuild it, so a file cannot run code
the way a pickle can — as long as nothing it names is something that runs code. Which
types, classes and functions a file may name is decided by mlharbor, never by whoever
uploads it: the allow-list of :mod:`mlharbor.registry.allowlist`, widened only by the
operator's ``MLHARBOR_TRUSTED_MODEL_TYPES`` setting. mlharbor never pickles or unpickles.

Every read checks the file twice before anything is built: our walk of every node of its
``schema.json`` (:func:`~mlharbor.registry.allowlist.refused_names`), then skops' own audit
(what ``skops.io.get_untrusted_types`` reports), with only the names our walk approved
trusted. Files from the store are checked again on every load (:func:`load_trusted`), so a
file changed in the store is refused, not run.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlharbor.errors import ConflictError, HarborError, InvalidInputError
from mlharbor.registry.allowlist import all_allowed, refused_names
from mlharbor.registry.skops_files import dumps, plain_vocabularies, read_schema

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

# skops (and the scikit-learn it imports, ~2 s) is imported where a model is read or written,
# so commands and servers that never touch a model file start without it.

#: The setting that widens the allow-list, named in errors.
SETTING = "MLHARBOR_TRUSTED_MODEL_TYPES"


def __getattr__(name: str) -> Any:
    # TRUSTED_TYPES (the public name of the list) is computed on first use: it needs
    # scikit-learn, LightGBM, NumPy and SciPy imported.
    if name == "TRUSTED_TYPES":
        return all_allowed()
    raise AttributeError(name)


def dump_pipeline(pipeline: Any) -> bytes:
    """The skops file of a fitted pipeline, as bytes.

    Raises
    ------
    ConflictError
        The pipeline holds a type mlharbor would refuse to load back: saving it would
        make a model version nobody can use.
    """
    plain_vocabularies(pipeline)

    def check(schema: dict[str, Any]) -> None:
        foreign = refused_names(schema)
        if foreign:
            raise ConflictError(
                "the model holds types mlharbor does not load from its store: "
                f"{', '.join(foreign)}",
                types=foreign,
            )

    return dumps(pipeline, check=check)


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of a model file."""
    return hashlib.sha256(data).hexdigest()


def load_trusted(data: bytes, *, extra: Iterable[str] = ()) -> Any:
    """Load a model file from mlharbor's own store, checking it again.

    Parameters
    ----------
    data : bytes
        A file written by :func:`dump_pipeline`, or an upload accepted by
        :func:`load_external`.
    extra : iterable of str, default=()
        The operator's ``MLHARBOR_TRUSTED_MODEL_TYPES``.

    Raises
    ------
    ConflictError
        The file is unreadable or holds something off the allow-list (a file changed in
        the store, or an upload whose extra types the operator has since removed).
    """
    return _load(data, extra, ConflictError, "the stored model file")


def load_external(data: bytes, *, extra: Iterable[str] = ()) -> BaseEstimator:
    """Load a fitted scikit-learn model from a user's ``.skops`` file, safely.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    extra : iterable of str, default=()
        The operator's ``MLHARBOR_TRUSTED_MODEL_TYPES`` (e.g. their own transformer,
        ``"mypackage.features.Cleaner"``). Never from the uploader.

    Returns
    -------
    estimator
        The fitted model or pipeline.

    Raises
    ------
    InvalidInputError
        Not a readable skops file; anything off the allow-list (listed); or not a fitted
        estimator with ``predict``.
    """
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    model = _load(data, extra, InvalidInputError, "the model file")
    if not hasattr(model, "predict"):
        raise InvalidInputError(
            f"the model file holds a {type(model).__name__}, not a model with predict()"
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise InvalidInputError(f"the uploaded {type(model).__name__} is not fitted")
    except TypeError:
        raise InvalidInputError(f"the model file holds a {type(model).__name__}, not a model")
    return model


#: One model file read at a time in a process. Reading one parses each array's header with
#: ``ast.literal_eval``, and CPython 3.11's AST constructor keeps its recursion depth in
#: state shared by threads (python/cpython#106905): two reads at once in one process (a Dask
#: worker's threads scoring chunks, a server loading two models) failed now and then with
#: "AST constructor recursion depth mismatch".
_reading = threading.Lock()
_AST_MISMATCH = "AST constructor recursion depth mismatch"


def _load(data: bytes, extra: Iterable[str], error: type[HarborError], what: str) -> Any:
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    extra = frozenset(extra)
    try:
        schema = read_schema(data)
    except Exception as exc:  # not a zip, no schema.json, broken JSON...
        raise error(f"{what} is not a readable .skops model file: {exc}")
    refused = refused_names(schema, extra)
    if refused:
        raise _refusal(error, what, refused)
    allowed = all_allowed(extra)
    try:
        # skops' audit runs inside loads: it refuses whatever it does not trust by default
        # and we did not name. We name only what our walk found, all of it allowed.
        with _reading:
            try:
                return sio.loads(data, trusted=sorted(_names(schema) & allowed))
            except SystemError as exc:
                if _AST_MISMATCH not in str(exc):
                    raise
                # Left behind by a parse elsewhere in the process (the same bug): once more.
                return sio.loads(data, trusted=sorted(_names(schema) & allowed))
    except UntrustedTypesFoundException as exc:
        found = sorted(set(re.findall(r"'([^']+)'", str(exc).split("\n", 1)[0])))
        raise _refusal(error, what, [t for t in found if t not in allowed] or found)
    except Exception as exc:  # skops raises many kinds on malformed content
        raise error(f"{what} could not be loaded: {exc}")


def _refusal(error: type[HarborError], what: str, refused: list[str]) -> HarborError:
    return error(
        f"{what} holds types, classes or functions that mlharbor never loads: "
        f"{', '.join(refused)}. Model files may hold only scikit-learn, LightGBM and "
        f"mlharbor estimators, NumPy/SciPy arrays and ufuncs; an operator can trust more "
        f"with the server setting {SETTING}",
        types=refused,
    )


def _names(schema: dict[str, Any]) -> set[str]:
    names = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            if "__module__" in node:
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                names.add(name)
                if node.get("__loader__") == "MethodNode":  # as skops names a method
                    names.add(f"{name}.{(node.get('content') or {}).get('func')}")
    return names

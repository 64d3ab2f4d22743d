"""Model files: saved with skops, loaded only with an explicit list of trusted types.

skops stores an object as a description of how to rebuild it; loading it refuses every
type not on a trusted list, so a file cannot run code the way a pickle can. mlharbor never
pickles or unpickles. Two ways in:

- :func:`load_trusted` for files mlharbor wrote itself to its store: the types our
  pipelines are made of (:data:`TRUSTED_TYPES`, pinned by a test over the whole catalog).
- :func:`load_external` for a ``.skops`` file a user uploads: the same list, plus the
  types the user explicitly allows — except those that can run code, which are never
  allowed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlharbor.errors import ConflictError, InvalidInputError

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

# skops (and the scikit-learn it imports, ~2 s) is imported where a model is read or written,
# so commands and servers that never touch a model file start without it.

#: Types in mlharbor's own pipelines that skops does not trust by default.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "mlharbor.models.automl.ensemble.BaggedClassifier",
        "mlharbor.models.automl.ensemble.BaggedRegressor",
        "mlharbor.models.automl.ensemble.WeightedEnsembleClassifier",
        "mlharbor.models.automl.ensemble.WeightedEnsembleRegressor",
        "mlharbor.prep.dates.DatetimeFeatures",
        "mlharbor.prep.text.TextFeatures",
        "numpy.dtype",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._csr.csr_matrix",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.tree._tree.Tree",
    }
)

#: Modules whose functions and classes can run code, touch files or the network: never
#: loaded from a user's file, whatever the allow-list says.
FORBIDDEN_MODULES: frozenset[str] = frozenset(
    {
        "builtins",
        "os",
        "posix",
        "nt",
        "sys",
        "subprocess",
        "shutil",
        "importlib",
        "runpy",
        "pickle",
        "marshal",
        "socket",
        "ctypes",
        "code",
        "codeop",
        "pty",
        "tempfile",
        "pathlib",
        "io",
        "webbrowser",
        "operator",
        "functools",
        "types",
        "inspect",
        "multiprocessing",
        "threading",
        "asyncio",
        "urllib",
        "http",
        "requests",
        "httpx",
        "eval",
        "exec",
    }
)


def dump_pipeline(pipeline: Any) -> bytes:
    """The skops file of a fitted pipeline, as bytes.

    Raises
    ------
    ConflictError
        The pipeline holds a type mlharbor would refuse to load back: saving it would
        make a model version nobody can use.
    """
    import skops.io as sio

    data = sio.dumps(pipeline)
    foreign = sorted(set(sio.get_untrusted_types(data=data)) - TRUSTED_TYPES)
    if foreign:
        raise ConflictError(
            f"the model holds types mlharbor does not load from its store: {', '.join(foreign)}",
            types=foreign,
        )
    return data


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of a model file."""
    return hashlib.sha256(data).hexdigest()


def load_trusted(data: bytes, *, extra: Iterable[str] = ()) -> Any:
    """Load a model file from mlharbor's own store.

    Parameters
    ----------
    data : bytes
        A file written by :func:`dump_pipeline` (or an external file registered with an
        allow-list, passed again as ``extra``).
    extra : iterable of str, default=()
        Types allowed when the file was registered.

    Raises
    ------
    ConflictError
        The file holds a type outside the trusted list (a tampered store, or a file from a
        library version that uses other types).
    """
    trusted = TRUSTED_TYPES | set(extra)
    untrusted = _untrusted(data)
    refused = sorted(t for t in untrusted if t not in trusted or _forbidden(t))
    if refused:
        raise ConflictError(
            f"the stored model file holds types that are not trusted: {', '.join(refused)}",
            types=refused,
        )
    import skops.io as sio

    return sio.loads(data, trusted=untrusted)


def load_external(data: bytes, *, allow: Iterable[str] = ()) -> BaseEstimator:
    """Load a fitted scikit-learn model from a user's ``.skops`` file, safely.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    allow : iterable of str, default=()
        Extra fully qualified type names the user trusts (e.g. their own transformer,
        ``"mypackage.features.Cleaner"``). Types from modules that can run code
        (:data:`FORBIDDEN_MODULES`, e.g. ``os.system``) are refused even when listed.

    Returns
    -------
    estimator
        The fitted model or pipeline.

    Raises
    ------
    InvalidInputError
        Not a readable skops file; untrusted types (listed, with how to allow them);
        forbidden types; or not a fitted estimator with ``predict``.

    Examples
    --------
    >>> load_external(uploaded, allow=["mypackage.features.Cleaner"])  # doctest: +SKIP
    """
    import skops.io as sio
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    untrusted = _untrusted(data, external=True)
    allowed = set(allow)
    forbidden = sorted(t for t in untrusted if _forbidden(t))
    if forbidden:
        raise InvalidInputError(
            f"the model file refers to types that can run code and are never loaded: "
            f"{', '.join(forbidden)}",
            types=forbidden,
        )
    refused = sorted(t for t in untrusted if t not in TRUSTED_TYPES and t not in allowed)
    if refused:
        raise InvalidInputError(
            f"the model file holds untrusted types: {', '.join(refused)}. Load it only if "
            "you trust them, by listing them in the allow-list",
            types=refused,
        )
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as exc:  # skops raises many kinds on malformed content
        raise InvalidInputError(f"the model file could not be loaded: {exc}")
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


def _untrusted(data: bytes, *, external: bool = False) -> list[str]:
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a zip that is not a skops file, a broken schema...
        if external:
            raise InvalidInputError(f"not a readable .skops model file: {exc}")
        raise ConflictError(f"the stored model file is unreadable: {exc}")


def _forbidden(type_name: str) -> bool:
    root = type_name.split(".", 1)[0]
    return root in FORBIDDEN_MODULES or type_name in FORBIDDEN_MODULES

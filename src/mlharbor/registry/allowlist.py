"""What a model file may hold: a fixed allow-list that mlharbor decides, never an uploader.

A ``.skops`` file is a tree of nodes (``schema.json`` in the zip), each naming the type,
class or function it rebuilds by ``__module__`` and ``__class__``, and each rebuilt by its
loader (``__loader__``) in its own way: an object from its class, a function by import, a
``functools.partial`` around a function, an array from ``.npy`` bytes. :func:`refused_names`
walks every node of that tree and checks its fully qualified name against what its loader
may rebuild:

- data: Python containers and scalars, NumPy arrays, scalars and dtypes, SciPy sparse
  matrices — only as the data loaders rebuild them, never as something to call;
- classes: mlharbor's own estimators and transformers, every scikit-learn and LightGBM
  estimator, and the scikit-learn internals fitted estimators hold (trees, losses, ...);
- functions: NumPy and SciPy ufuncs only — not ``numpy.load``, ``sklearn.datasets.fetch_*``
  or any other function of those libraries, and no function of the standard library;
- ``functools.partial`` only around an allowed function, or around the few scikit-learn
  functions that scikit-learn itself wraps in one (:data:`PARTIAL_FUNCTIONS`).

Bound methods and ``operator`` functions are never rebuilt. An operator may add their own
classes and functions with ``MLHARBOR_TRUSTED_MODEL_TYPES`` (:func:`check_extra` refuses the
standard library's, whatever the setting says); an upload can widen nothing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from functools import cache, wraps
from typing import Any, TypeVar

_T = TypeVar("_T")
#: Held while a list is first built: ``all_estimators`` imports scikit-learn's modules, and two
#: threads importing them at once (two chunks scored on one Dask worker) can fail half-way.
_BUILDING = threading.RLock()


def _built_once(build: Callable[[], _T]) -> Callable[[], _T]:
    cached = cache(build)

    @wraps(build)
    def once() -> _T:
        with _BUILDING:
            return cached()

    return once


#: mlharbor's own estimators and transformers.
MLHARBOR_CLASSES = frozenset(
    {
        "mlharbor.models.automl.ensemble.BaggedClassifier",
        "mlharbor.models.automl.ensemble.BaggedRegressor",
        "mlharbor.models.automl.ensemble.WeightedEnsembleClassifier",
        "mlharbor.models.automl.ensemble.WeightedEnsembleRegressor",
        "mlharbor.prep.dates.DatetimeFeatures",
        "mlharbor.prep.text.TextFeatures",
    }
)

#: What fitted scikit-learn estimators hold besides other estimators.
SKLEARN_INTERNALS = frozenset(
    {
        # CalibratedClassifierCV's fitted calibrators: the catalog's SVM with probabilities.
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        # skops leaves TreePredictor untrusted (crafted node indices can crash a predict);
        # histogram gradient boosting cannot be saved without it.
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.tree._tree.Tree",
    }
)

#: Functions allowed only as the function of a ``functools.partial``: scikit-learn 1.9's
#: histogram gradient boosting with categorical features keeps
#: ``FunctionTransformer(partial(check_array, ...))`` in its fitted preprocessor.
PARTIAL_FUNCTIONS = frozenset({"sklearn.utils.validation.check_array"})

#: Types that appear as values (``dtype=numpy.float64``, a dict's key types, LightGBM's
#: ``defaultdict(OrderedDict)``): calling one builds an empty or converted value.
BUILTIN_TYPE_VALUES = frozenset(
    {f"builtins.{t}" for t in ("bool", "bytes", "complex", "dict", "float", "int", "list")}
    | {f"builtins.{t}" for t in ("set", "str", "tuple")}
    | {"collections.OrderedDict"}
)

#: Python's data containers and scalars, rebuilt only by their data loaders.
_PYTHON_DATA = {
    "DictNode": {"builtins.dict"},
    "DefaultDictNode": {"collections.defaultdict"},
    "ListNode": {"builtins.list"},
    "TupleNode": {"builtins.tuple"},
    "SetNode": {"builtins.set"},
    "SliceNode": {"builtins.slice"},
    "BytesNode": {"builtins.bytes"},
    "BytearrayNode": {"builtins.bytearray"},
    "JsonNode": {f"builtins.{t}" for t in ("str", "int", "float", "bool", "NoneType")},
}

#: Loaders that rebuild an object of the named class.
_CLASS_LOADERS = {"ObjectNode", "ReduceNode", "TreeNode", "LossNode", "ConstructorFromReduceNode"}

#: Roots of modules whose functions and classes are never loaded, whatever an operator
#: lists: the standard library (``os.system``, ``subprocess.Popen``, ``builtins.eval``,
#: ``operator.attrgetter``, ``functools.partial`` itself...) and pickle's relatives.
NEVER_ROOTS = frozenset(sys.stdlib_module_names) | {
    "builtins",
    "__main__",
    "cloudpickle",
    "dill",
    "joblib",
    "skops",
}


def check_extra(names: Iterable[str]) -> list[str]:
    """The operator's extra trusted names, checked; raise ``ValueError`` naming a bad one."""
    checked = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if "." not in name or not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"{name!r} is not a fully qualified name like 'package.module.Type'")
        if name.split(".", 1)[0] in NEVER_ROOTS:
            raise ValueError(
                f"{name!r} is from the standard library (or a pickle loader), whose classes "
                "and functions a model file may never hold"
            )
        checked.append(name)
    return checked


@_built_once
def library_classes() -> frozenset[str]:
    """Every class a model file may rebuild (without the operator's extra ones)."""
    import inspect

    import lightgbm
    import sklearn._loss._loss as cy_loss
    import sklearn._loss.link as link
    import sklearn._loss.loss as loss
    import sklearn.metrics._dist_metrics as dist
    from sklearn.utils import all_estimators

    names = set(MLHARBOR_CLASSES | SKLEARN_INTERNALS)
    names |= {_name(cls) for _, cls in all_estimators() if _name(cls).startswith("sklearn.")}
    for module in (cy_loss, link, loss):
        names |= {_name(c) for c in vars(module).values() if inspect.isclass(c)}
    names |= {
        _name(c)
        for n, c in vars(dist).items()
        if inspect.isclass(c) and issubclass(c, dist.DistanceMetric) and "PyFunc" not in n
    }
    lgbm = (lightgbm.Booster, lightgbm.LGBMClassifier, lightgbm.LGBMRegressor, lightgbm.LGBMRanker)
    names |= {_name(cls) for cls in lgbm}
    return frozenset(n for n in names if n.split(".", 1)[0] in ("sklearn", "lightgbm", "mlharbor"))


@_built_once
def library_functions() -> frozenset[str]:
    """Every function a model file may name: NumPy's and SciPy's ufuncs."""
    import numpy as np
    import scipy.special

    names = set()
    for module, prefix in ((np, "numpy"), (scipy.special, "scipy.special")):
        for attr, value in vars(module).items():
            # As skops names them: a ufunc by where it is found, e.g. ``numpy.log1p``.
            if not attr.startswith("_") and isinstance(value, np.ufunc):
                names.add(f"{prefix}.{attr}")
        names |= _scipy_ufunc_wrappers(module, prefix)
    return frozenset(names)


def _scipy_ufunc_wrappers(module: Any, prefix: str) -> set[str]:
    # Newer SciPy wraps some special functions in its own ufunc-like type.
    try:
        from skops.utils._fixes import get_scipy_ufunc_wrapper_type

        wrapper = get_scipy_ufunc_wrapper_type()
    except ImportError:
        return set()
    if wrapper is None or prefix != "scipy.special":
        return set()
    return {f"{prefix}.{a}" for a, v in vars(module).items() if isinstance(v, wrapper)}


@_built_once
def data_types() -> dict[str, frozenset[str]]:
    """What each data loader may rebuild: ``{loader: names}``."""
    import inspect

    import numpy as np
    import scipy.sparse as sp

    scalars = numpy_scalar_types()
    sparse = {
        _name(c)
        for c in vars(sp).values()
        if inspect.isclass(c)
        and issubclass(c, (sp.sparray, sp.spmatrix))
        and c not in (sp.sparray, sp.spmatrix)
    }
    numpy_data = {
        "NdArrayNode": {"numpy.ndarray"} | scalars,
        "MaskedArrayNode": {_name(np.ma.MaskedArray)},
        "DTypeNode": {"numpy.dtype"},
        "RandomStateNode": {_name(np.random.RandomState)},
        "RandomGeneratorNode": {_name(np.random.Generator)},
        "SparseMatrixNode": sparse,
    }
    return {k: frozenset(v) for k, v in {**_PYTHON_DATA, **numpy_data}.items()}


@_built_once
def numpy_scalar_types() -> frozenset[str]:
    """NumPy's scalar types by their fully qualified names, e.g. ``numpy.float64``."""
    import numpy as np

    return frozenset(n for t in set(np.sctypeDict.values()) if (n := _name(t)).startswith("numpy."))


def all_allowed(extra: Iterable[str] = ()) -> frozenset[str]:
    """Every name the allow-list holds, whatever the loader (for error messages and tests)."""
    data = set().union(*data_types().values())
    return frozenset(
        data
        | library_classes()
        | library_functions()
        | PARTIAL_FUNCTIONS
        | BUILTIN_TYPE_VALUES
        | {"functools.partial"}
        | set(extra)
    )


def refused_names(schema: dict[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """The names in a skops schema that the allow-list refuses, sorted; ``[]`` if none.

    Every dict anywhere in the schema that names a loader is a node and is checked, however
    deep it sits (in a dict's values, a list, ``kw_args``, a partial's ``func``...).
    """
    extra = frozenset(extra)
    classes = library_classes() | extra
    functions = library_functions() | extra
    data = data_types()
    types = classes | numpy_scalar_types() | BUILTIN_TYPE_VALUES
    refused: set[str] = set()
    wrapped_ok: set[int] = set()  # ids of the func nodes of allowed partials
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        loader = node.get("__loader__")
        if loader is None and "__module__" not in node and "__class__" not in node:
            continue
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        if not isinstance(loader, str):
            refused.add(name)
        elif loader in data:
            if name not in data[loader]:
                refused.add(name)
        elif loader in _CLASS_LOADERS:
            if name not in classes:
                refused.add(name)
        elif loader == "TypeNode":
            if name not in types:
                refused.add(name)
        elif loader == "FunctionNode":
            if name not in functions and id(node) not in wrapped_ok:
                refused.add(name)
        elif loader == "PartialNode":
            # Popped before its func node, which was pushed just above.
            refused |= _check_partial(node, name, functions, wrapped_ok)
        elif loader == "MethodNode":
            # A bound method names its object's class and the method: never ours.
            method = f"{name}.{(node.get('content') or {}).get('func')}"
            if method not in extra:
                refused.add(method)
        elif loader != "CachedNode":  # a reference to a node already checked
            # OperatorFuncNode (operator.attrgetter...) and anything unknown.
            refused.add(name)
    return sorted(refused)


def _check_partial(
    node: dict[str, Any], name: str, functions: frozenset[str], wrapped_ok: set[int]
) -> set[str]:
    if name != "functools.partial":
        return {name}
    func = (node.get("content") or {}).get("func")
    if not isinstance(func, dict) or func.get("__loader__") != "FunctionNode":
        # Only a plain function may be wrapped (the func node is checked in turn).
        return {f"functools.partial of {_describe(func)}"}
    wrapped = f"{func.get('__module__')}.{func.get('__class__')}"
    if wrapped in functions or wrapped in PARTIAL_FUNCTIONS:
        wrapped_ok.add(id(func))
        return set()
    return {wrapped}


def _describe(node: Any) -> str:
    if isinstance(node, dict):
        return f"{node.get('__module__')}.{node.get('__class__')}"
    return type(node).__name__


def _name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"

"""Package attributes imported on first use, so importing a package stays cheap."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, MutableMapping
from types import ModuleType
from typing import Any


def lazy_exports(
    package: str, namespace: MutableMapping[str, Any], exports: dict[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name of ``exports`` from its module.

    ``exports`` maps a public name to the module that defines it; the value is cached in
    ``namespace`` (the package's ``globals()``) once imported.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, executed on its first attribute access rather than now.

    For a heavy module that a light one uses in a few functions only (``pyarrow.compute``
    costs about 45 ms, and reading a stored dataset never needs it).
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as an import does: ``pyarrow.compute`` is an attribute of ``pyarrow``
        setattr(sys.modules[parent], child, module)
    return module

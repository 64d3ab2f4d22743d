"""Package attributes imported on first use, so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
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

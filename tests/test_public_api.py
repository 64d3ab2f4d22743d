"""The package's public names are pinned: changing them is a deliberate act."""

from __future__ import annotations

import mlharbor


def test_exported_names() -> None:
    assert sorted(mlharbor.__all__) == sorted(
        [
            "Client",
            "ConflictError",
            "HarborError",
            "Hub",
            "InvalidInputError",
            "NotFoundError",
            "PayloadTooLargeError",
            "Settings",
            "UnsupportedFormatError",
            "__version__",
            "get_settings",
        ]
    )
    for name in mlharbor.__all__:
        assert hasattr(mlharbor, name)


def test_core_layers_do_not_import_the_adapters() -> None:
    import ast
    from pathlib import Path

    root = Path(mlharbor.__file__).parent
    core = ["data", "prep", "models", "registry", "jobs", "serving", "monitoring", "store"]
    offenders = []
    for layer in core:
        for path in (root / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    if name.startswith(("mlharbor.api", "mlharbor.ui", "mlharbor.cli", "fastapi")):
                        offenders.append(f"{path.relative_to(root)} imports {name}")
    assert offenders == []

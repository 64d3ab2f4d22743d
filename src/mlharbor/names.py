"""The rule for dataset names, light enough for the requests and the CLI to check early."""

from __future__ import annotations

import re

from mlharbor.errors import InvalidInputError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_name(name: str, *, field: str = "name") -> str:
    """Return ``name`` if it is a valid dataset name, else raise ``InvalidInputError``."""
    if not NAME.match(name or "") or name.isdigit():
        raise InvalidInputError(
            f"invalid dataset name {name!r}: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, and not only digits",
            field=field,
        )
    return name

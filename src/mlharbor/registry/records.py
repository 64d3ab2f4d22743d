"""Plain records of registered models and their versions, detached from the database.

The registry returns these rather than ORM objects, so callers (the hub, the API, the CLI)
can keep and serialise them after the session is closed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mlharbor.errors import InvalidInputError

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")
ALIAS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
VERSION_REF = re.compile(r"^[vV]?(\d+)$")
#: Aliases the registry moves itself; users cannot set or delete them.
MANAGED_ALIASES = frozenset({"latest"})


@dataclass(frozen=True)
class ModelVersionRecord:
    """One version of a registered model.

    ``artifacts`` maps each artifact name to ``{"png": {...}, "json": {...}}`` with the
    stored key, SHA-256 and size of each file; read them with
    :meth:`ModelRegistry.read_artifact`.
    """

    id: int
    model: str
    version: int
    aliases: list[str]
    task: str
    target: str | None
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifacts: dict[str, Any]
    signature: dict[str, Any]
    lineage: dict[str, Any]
    dataset_version_id: int | None
    job_id: int | None
    content_hash: str
    train_seconds: float
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``created_at`` as ISO 8601)."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class DeletedVersion:
    """One deleted model version: its database id (which keys per-version files) and number."""

    id: int
    version: int


@dataclass(frozen=True)
class Deletion:
    """What the registry has just deleted, as announced to its deletion listeners.

    ``whole_model`` is set when the registered model itself went (with every version in
    ``versions``); otherwise the model stays and only ``versions`` went.
    """

    model: str
    versions: tuple[DeletedVersion, ...]
    whole_model: bool = False

    @property
    def numbers(self) -> list[int]:
        """The deleted version numbers."""
        return [v.version for v in self.versions]


@dataclass(frozen=True)
class RegisteredModelRecord:
    """A registered model: its name, aliases and (from ``get_model``) its versions."""

    id: int
    name: str
    description: str
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int]
    versions: list[ModelVersionRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``created_at`` as ISO 8601)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "latest_version": self.latest_version,
            "aliases": dict(self.aliases),
            "versions": [v.to_dict() for v in self.versions],
        }


def check_model_name(name: str) -> str:
    """``name`` if it is a valid model name, else ``InvalidInputError`` saying the rule."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise InvalidInputError(
            f"invalid model name {name!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter",
            name=str(name),
        )
    return name


def suggest_model_name(*parts: object) -> str:
    """A valid model name made from ``parts`` (e.g. a dataset name and a target column).

    Examples
    --------
    >>> suggest_model_name("titanic 2024.csv", "Survived")
    'titanic_2024.csv-Survived'
    >>> suggest_model_name("2024 sales", "€")
    'm-2024_sales-_'
    """
    text = "-".join(str(p).strip() for p in parts if str(p).strip()) or "model"
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if not text[0].isalpha() or not text[0].isascii():
        text = f"m-{text}"
    return text[:128]


def check_alias(alias: str) -> str:
    """``alias`` if a user may set it, else ``InvalidInputError`` saying why."""
    if not isinstance(alias, str) or not ALIAS_NAME.match(alias) or VERSION_REF.match(alias):
        raise InvalidInputError(
            f"invalid alias {alias!r}: use 1-64 letters, digits, '_' or '-', starting with a "
            "letter, and not of the form v<number>",
            alias=str(alias),
        )
    if alias in MANAGED_ALIASES:
        raise InvalidInputError(
            f"alias {alias!r} is managed by the registry: it always points at the newest version",
            alias=alias,
        )
    return alias


def version_number(ref: int | str) -> int | None:
    """The version number ``ref`` names (``3``, ``"3"``, ``"v3"``), or ``None`` for an alias."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    match = VERSION_REF.match(str(ref).strip())
    # More digits than any version has (and than int() takes) name no version.
    return int(match.group(1)) if match and len(match.group(1)) <= 18 else None


def split_model_ref(text: str) -> tuple[str, str]:
    """``name@alias`` or ``name/version`` as ``(name, ref)``; a bare name means ``latest``."""
    for sep in ("@", "/"):
        if sep in text:
            name, ref = text.split(sep, 1)
            return name, ref
    return text, "latest"

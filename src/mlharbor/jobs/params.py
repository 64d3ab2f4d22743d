"""Job requests as dataclasses: plain JSON parameters in and out, unknown options named."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, ClassVar, Self

from mlharbor.errors import InvalidInputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class JobParams:
    """Mixin for a job kind's request dataclass; ``what`` names it in error messages."""

    what: ClassVar[str] = "job"

    def to_params(self: DataclassInstance) -> dict[str, Any]:
        """The request as the job's stored parameters."""
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """A request from stored or submitted parameters; unknown options are a 422."""
        # A mixin of dataclasses: cls is one, which mypy cannot tell from JobParams itself.
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown {cls.what} option(s) {', '.join(map(repr, unknown))}; valid options: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**params)

"""The learning task a target implies: one enumeration for insights, training and serving."""

from __future__ import annotations

from enum import StrEnum

from mlharbor.errors import InvalidInputError

#: A numeric target with at most this many distinct integer values is read as classes.
MAX_INTEGER_CLASSES = 10


class Task(StrEnum):
    """What a model learns to predict."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    TEXT = "text"  # classification whose features are mainly free text

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


def parse_task(value: str | Task | None) -> Task | None:
    """``value`` as a :class:`Task`; ``InvalidInputError`` listing the tasks otherwise."""
    if value is None or isinstance(value, Task):
        return value
    try:
        return Task(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(t.value for t in Task)
        raise InvalidInputError(f"unknown task {value!r}; valid tasks: {valid}", task=value)

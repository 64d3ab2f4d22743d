"""The learning task a target implies: one enumeration for insights, training and serving."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """What a model learns to predict."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    TEXT = "text"  # classification whose features are mainly free text

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION

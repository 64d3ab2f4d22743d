"""Cross-validation folds over the shared test frames, as the AutoML search builds them."""

from __future__ import annotations

from mlharbor.models.automl.folds import Folds
from mlharbor.models.tasks import Task

from ..training_data import binary_frame, text_frame, with_schema


def text_folds(n_folds: int = 3) -> Folds:
    """Folds of the small review frame (text + a number), target ``sentiment``."""
    df, schema = with_schema(text_frame())
    y = df["sentiment"].to_numpy(dtype=object)
    return Folds(
        X=df[["review", "length"]],
        y=y,
        y_index=(y == "pos").astype(int),
        classes=["neg", "pos"],
        task=Task.TEXT,
        schema=schema,
        target="sentiment",
        drop=[],
        n_folds=n_folds,
        seed=0,
        shared=True,
    )


def binary_folds(n_folds: int = 5, n_repeats: int = 1) -> Folds:
    """Folds of the breast-cancer-like frame, target ``diagnosis``."""
    df, schema = with_schema(binary_frame())
    y = df["diagnosis"].to_numpy(dtype=object)
    return Folds(
        X=df.drop(columns=["diagnosis"]),
        y=y,
        y_index=(y == "malignant").astype(int),
        classes=["benign", "malignant"],
        task=Task.BINARY,
        schema=schema,
        target="diagnosis",
        drop=[],
        n_folds=n_folds,
        seed=0,
        shared=True,
        n_repeats=n_repeats,
    )

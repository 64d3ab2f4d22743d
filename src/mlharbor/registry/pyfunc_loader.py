"""The ``python_function`` loader of an exported MLflow model: refusals as MLflow's own errors.

An exported pipeline's first step (:class:`~mlharbor.prep.input_step.InputTypes`) refuses a
value that does not fit its column with an :class:`~mlharbor.prep.inputs.InputValueError`
naming the column. ``mlflow models serve`` answers any exception but an ``MlflowException``
with its generic "Encountered an unexpected error while evaluating the model" (our message
only inside ``stack_trace``); an ``MlflowException`` it answers with its own message and
error code (``mlflow.pyfunc.scoring_server.invocations``, which puts "Failed to predict data
'<the rows>'. Error: " before it). The export's MLmodel names this
module as the flavor's ``loader_module``: MLflow calls :func:`_load_pyfunc` (its documented
custom-loader convention), which loads the scikit-learn model as ``mlflow.sklearn`` does and
re-raises a refusal as ``MlflowException(message, error_code=INVALID_PARAMETER_VALUE)``, so
the scoring server answers 400 with our message and the column. The ``sklearn`` flavor is
untouched: ``mlflow.sklearn.load_model`` returns the pipeline, which raises
``InputValueError`` (a ``ValueError``) as before.

This module travels with exported models (``code/``). It imports mlflow only inside the
functions MLflow calls, so it imports without mlflow (mlharbor never depends on it), and of
mlharbor only :mod:`mlharbor.prep.inputs`, carried beside it.
"""

from __future__ import annotations

from typing import Any

from mlharbor.prep.inputs import InputValueError


def _load_pyfunc(path: str) -> RefusalsAsMlflowErrors:
    """The model at ``path`` as ``mlflow.sklearn`` loads it for ``python_function``, its
    refusals raised as ``MlflowException``. Called by ``mlflow.pyfunc.load_model``."""
    # mlflow.sklearn's own loader under the same convention: the pickle is read exactly as
    # the MLmodel's "loader_module: mlflow.sklearn" read it (format, MLflow's pickle gate).
    import mlflow.sklearn

    return RefusalsAsMlflowErrors(mlflow.sklearn._load_pyfunc(path))


class RefusalsAsMlflowErrors:
    """A pyfunc model implementation (MLflow's scikit-learn wrapper) whose predictions
    re-raise :class:`~mlharbor.prep.inputs.InputValueError` as an ``MlflowException``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """The wrapped model's predictions for ``data``.

        Raises
        ------
        mlflow.exceptions.MlflowException
            A value that does not fit its column (``INVALID_PARAMETER_VALUE``, HTTP 400
            from the scoring server); the message names the column, as does its ``column``.
        """
        try:
            return self.model.predict(data, params=params)
        except InputValueError as exc:
            raise _mlflow_error(exc) from exc

    def get_raw_model(self) -> Any:
        """The scikit-learn pipeline, as MLflow's wrapper returns it."""
        return self.model.get_raw_model()


def _mlflow_error(exc: InputValueError) -> Exception:
    """``exc`` as the ``MlflowException`` MLflow's scoring server answers with its message:
    ``INVALID_PARAMETER_VALUE`` (HTTP 400), the column in its JSON as ``column``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    error: Exception = MlflowException(
        str(exc), error_code=INVALID_PARAMETER_VALUE, column=exc.column
    )
    return error

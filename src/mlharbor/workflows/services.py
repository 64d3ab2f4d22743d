"""The services each workflow uses, as small protocols.

A workflow is written against these, not against :class:`mlharbor.hub.Hub`: the hub
satisfies them (it is the one place that builds the services), and the workflows never
import it, so the dependencies point one way: hub → workflows → services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlharbor.config import Settings
    from mlharbor.data.datasets import DatasetService
    from mlharbor.monitoring.service import MonitoringService
    from mlharbor.registry import ModelRegistry
    from mlharbor.serving.predictor import Predictor


class DatasetServices(Protocol):
    """What checks a request against a stored dataset: the datasets."""

    @property
    def datasets(self) -> DatasetService: ...


class CheckServices(DatasetServices, Protocol):
    """What checks a request against stored datasets and models."""

    @property
    def models(self) -> ModelRegistry: ...


class TrainServices(CheckServices, Protocol):
    """What the ``train`` and ``automl`` workflows use: read a dataset, register a model,
    store its reference profile for drift monitoring."""

    @property
    def monitoring(self) -> MonitoringService: ...


class ScoreServices(CheckServices, Protocol):
    """What the ``score`` workflow uses: datasets in and out, the predictor between."""

    @property
    def settings(self) -> Settings: ...

    @property
    def predictor(self) -> Predictor: ...

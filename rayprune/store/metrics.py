"""A run's metrics as the code names them: the curves, logged as `train/NAME`, read as NAME."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from rayprune import names


def canonical_metrics(stored: Mapping[str, float]) -> dict[str, float]:
    """A run's latest metric values under the code's names."""
    return {names.canonical(key): value for key, value in stored.items()}


def curve_history(client: MlflowClient, run_id: str, name: str) -> list[Metric]:
    """Every logged step of the curve `name` (stored as train/NAME)."""
    return client.get_metric_history(run_id, names.curve(name))

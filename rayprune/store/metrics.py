"""A run's metrics as today's code names them, whichever rayprune version logged them: curves
with or without their `train/` prefix, and `compression_ratio` before and after it became the
ratio (it held the fraction of weights removed before `weights_removed` existed)."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from rayprune import names


def canonical_metrics(stored: Mapping[str, float]) -> dict[str, float]:
    """A run's latest metric values under the code's names."""
    metrics = {names.canonical(key): value for key, value in stored.items()}
    if names.WEIGHTS_REMOVED not in metrics and names.COMPRESSION_RATIO in metrics:
        removed = metrics[names.COMPRESSION_RATIO]
        metrics[names.WEIGHTS_REMOVED] = removed
        metrics[names.COMPRESSION_RATIO] = 1.0 / (1.0 - removed) if removed < 1.0 else float("inf")
    return metrics


def curve_history(client: MlflowClient, run_id: str, name: str) -> list[Metric]:
    """Every logged step of the curve `name`, under whichever name the run stored it."""
    for stored in names.curve_names(name):
        history = client.get_metric_history(run_id, stored)
        if history:
            return history
    return []


def logs_legacy_curves(client: MlflowClient, run_id: str) -> bool:
    """The run's curves are stored without their prefix (a run of older rayprune): a resumed
    trial goes on under those names, so no curve is split in two."""
    today, older = names.curve_names(names.ENV_STEPS)
    return not client.get_metric_history(run_id, today) and bool(
        client.get_metric_history(run_id, older)
    )

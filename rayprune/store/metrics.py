"""A run's metrics as the code names them: the curves, logged as `train/NAME` against env steps
(their MLflow step), read as NAME; the final values at step 0."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from rayprune import names

FINAL_STEP = 0  # MLflow charts a metric that never passed step 0 as a bar: a value, not a dot


def canonical_metrics(stored: Mapping[str, float]) -> dict[str, float]:
    """A run's latest metric values under the code's names."""
    return {names.canonical(key): value for key, value in stored.items()}


def curve_history(client: MlflowClient, run_id: str, name: str) -> list[Metric]:
    """Every logged step of the curve `name` (stored as train/NAME); a step is the env steps
    sampled by the end of that iteration."""
    return client.get_metric_history(run_id, names.curve(name))


def iterations_logged(client: MlflowClient, run_id: str) -> int:
    """How many iterations the run holds: one row each, in order from the first, and every row
    holds the episode return."""
    return len(curve_history(client, run_id, names.EPISODE_RETURN_MEAN))


def env_steps_logged(client: MlflowClient, run_id: str) -> int:
    """The env steps of the run's last logged iteration (0 before its first): every iteration's
    row holds the episode return, so its curve's last step is the run's."""
    history = curve_history(client, run_id, names.EPISODE_RETURN_MEAN)
    return max((m.step for m in history), default=0)

"""Sweeps for the integration tests: the tiny config each one patches, writing it, and reading
the trial runs a sweep left in its MLflow store. (Running `rayprune` itself: tests/cli.py.)"""

import contextlib
import sqlite3
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from rayprune.store.tracking import TRIAL_KEY_TAG

CURVES = {
    "episode_return_mean", "prune_step", "neurons", "neurons_l0", "neurons_l1", "weights", "flops",
    "sparsity", "sparsity_target_now",
}  # fmt: skip
# per-iteration curves under train/ (MLflow charts them in a section of their own), final values
METRICS = {f"train/{m}" for m in CURVES} | {
    "eval_return_mean",
    "weights_removed",
    "compression_ratio",
}
TINY = {
    "name": "tiny",
    "env": "CartPole-v1",
    "budget_env_steps": 2000,
    "ppo": {"train_batch_size": 500, "minibatch_size": 128, "num_epochs": 2},
    "model": {"hidden": [16, 16], "critic_hidden": [16]},
    "pruning": {"start_iter": 1, "end_iter": 3},
    "grid": {"method": ["dsp", "ppo"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    "num_envs_per_env_runner": 2,
    "checkpoint_every": 2,
    "eval_episodes": 3,
}


def write_config(folder: Path, **patch) -> Path:
    """TINY with `patch`'s top-level keys replaced, as <name>.yaml in `folder`."""
    path = folder / f"{patch.get('name', TINY['name'])}.yaml"
    path.write_text(yaml.safe_dump({**TINY, **patch}))
    return path


def runs_of(results: Path, experiment: str):
    """The client on `results`' SQLite store and the experiment's trial runs (no summary runs)."""
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    return client, [r for r in runs if TRIAL_KEY_TAG in r.data.tags]  # not the summary runs


def finished_runs(db: Path) -> dict[str, int]:
    """run_id -> end_time of the FINISHED trial runs, read straight from the SQLite store."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        try:
            rows = con.execute(
                "select r.run_uuid, r.end_time from runs r join tags t on t.run_uuid = r.run_uuid"
                f" where r.status = 'FINISHED' and t.key = '{TRIAL_KEY_TAG}'"
            ).fetchall()
        except sqlite3.OperationalError:  # the store is still being created
            return {}
    return dict(rows)


def curve_steps(client: MlflowClient, run_id: str) -> list[int]:
    """The MLflow steps of a trial's curve: the env steps sampled by each logged iteration."""
    return [m.step for m in client.get_metric_history(run_id, "train/episode_return_mean")]


def assert_iterations(
    steps: list[int], iterations: int, batch: int = TINY["ppo"]["train_batch_size"]
) -> None:
    """One row per iteration, none twice, each about a train batch of env steps after the last
    (RLlib rounds a batch to whole rollout fragments of its envs, and a trial restored from a
    checkpoint may count a few steps more or less than it did before)."""
    assert len(steps) == iterations and steps == sorted(set(steps)), steps
    gaps = [b - a for a, b in zip([0, *steps], steps)]
    assert all(abs(gap - batch) < batch // 2 for gap in gaps), steps

"""A sweep's MLflow runs as plain data: its finished trials, their curves, their policies, and
the readers that fill them from the store (load.py calls them, once per report)."""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.artifacts import download_artifacts
from mlflow.tracking import MlflowClient

from rayprune import names
from rayprune.errors import NoEligibleRun
from rayprune.policy import ARTIFACT_DIR, load_compact_policy
from rayprune.pruning import CompactMLP, LowRankLinear
from rayprune.store.metrics import canonical_metrics, curve_history
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import artifacts_here, trial_runs

# What varies between a sweep's trials; every other param is the sweep's setting (env, budget,
# PPO, network, schedule), and sweeps with equal settings are one experiment run in parts.
POINT_KEYS = frozenset({"name", *names.POINT_PARAMS})
CellKey = tuple[str, float, float]  # method, lambda, sparsity_target
# step -> value of one metric of one run (MLflow's step is the training iteration)
History = dict[int, float]
LAYER_KEY = re.compile(rf"^{names.LAYER_NEURONS_PREFIX}(\d+)$")  # neurons kept in hidden layer i
# A local SQLite store answers in milliseconds; a remote server pays a round trip per call.
HISTORY_THREADS = 4


@dataclass(frozen=True)
class Trial:
    """One finished trial run: its grid point and its final metrics (the last logged values)."""

    run_id: str
    name: str
    point: TrialPoint
    metrics: dict[str, float] = field(hash=False)

    @property
    def method(self) -> str:
        return self.point.method

    @property
    def lam(self) -> float:
        return self.point.lam

    @property
    def sparsity_target(self) -> float:
        return self.point.sparsity_target

    @property
    def seed(self) -> int:
        return self.point.seed

    @property
    def cell(self) -> CellKey:
        return (self.method, self.lam, self.sparsity_target)

    def metric(self, key: str) -> float:
        return self.metrics.get(key, math.nan)


@dataclass(frozen=True)
class Sweep:
    name: str
    env: str
    search: str  # "grid" or "optuna"
    trials: tuple[Trial, ...]
    settings: frozenset[tuple[str, str]] = frozenset()

    @property
    def layers(self) -> list[str]:
        """The per-layer neuron metrics its trials logged, first hidden layer first."""
        keys = {k for t in self.trials for k in t.metrics if LAYER_KEY.match(k)}
        return sorted(keys, key=lambda k: int(LAYER_KEY.match(k).group(1)))


def trial_of(run: Any) -> Trial:
    return Trial(
        run_id=run.info.run_id,
        name=run.info.run_name,
        point=TrialPoint.from_params(run.data.params),
        metrics=canonical_metrics(run.data.metrics),
    )


def load_sweep(client: MlflowClient, name: str) -> Sweep:
    """The sweep's FINISHED trial runs that have a final eval (trials stopped early have none)."""
    runs = [r for r in trial_runs(client, name) if names.EVAL_RETURN_MEAN in r.data.metrics]
    if not runs:
        raise NoEligibleRun(f"sweep {name!r} has no finished trial with a final eval yet")
    params = runs[0].data.params
    return Sweep(
        name=name,
        env=params[names.ENV],
        search=params.get(names.SEARCH_KIND, "grid"),
        trials=tuple(trial_of(r) for r in runs),
        settings=frozenset((k, v) for k, v in params.items() if k not in POINT_KEYS),
    )


PART_SEPARATOR = " + "  # between the names of sweeps merged into one section


def merge_parts(sweeps: Iterable[Sweep]) -> list[Sweep]:
    """Sweeps with equal settings as one, named 'a + b', in first-seen order: a grid run in
    slices (say sparsity 0.93 first, 0.80-0.90 later) gets one sensitivity grid. A grid point
    and seed found in two parts counts once (the first part's)."""
    groups: dict[frozenset[tuple[str, str]], list[Sweep]] = {}
    for sweep in sweeps:
        groups.setdefault(sweep.settings, []).append(sweep)
    merged = []
    for parts in groups.values():
        trials = {}
        for trial in (t for part in parts for t in part.trials):
            trials.setdefault((trial.cell, trial.seed), trial)
        first = parts[0]
        merged.append(
            Sweep(
                name=PART_SEPARATOR.join(part.name for part in parts),
                env=first.env,
                search=first.search,
                trials=tuple(trials.values()),
                settings=first.settings,
            )
        )
    return merged


def load_histories(
    client: MlflowClient, run_ids: Iterable[str], keys: Iterable[str]
) -> dict[tuple[str, str], History]:
    """{(run_id, key): {step: value}} of the curves `keys` (the code's names), one call per run
    and key: only what the figures plot."""
    wanted = [(run_id, key) for run_id in dict.fromkeys(run_ids) for key in keys]

    def fetch(item: tuple[str, str]) -> History:
        return {m.step: m.value for m in curve_history(client, *item)}

    with ThreadPoolExecutor(HISTORY_THREADS) as pool:
        return dict(zip(wanted, pool.map(fetch, wanted)))


@dataclass(frozen=True)
class PolicyWeights:
    """The |W| a compact policy computes with, one (out x in) matrix per layer, head last, and
    the shapes of the dense actor it was cut from."""

    matrices: list[np.ndarray]
    dense_shapes: list[tuple[int, int]]


def load_policy_weights(client: MlflowClient, run_id: str) -> PolicyWeights:
    """From the run's policy.safetensors (never a pickle), through the loader deployment uses."""
    with tempfile.TemporaryDirectory() as tmp:
        where = artifacts_here(client.tracking_uri, client.get_run(run_id).info.artifact_uri)
        folder = download_artifacts(
            artifact_uri=f"{where}/{ARTIFACT_DIR}", dst_path=tmp, tracking_uri=client.tracking_uri
        )
        net, info = load_compact_policy(Path(folder))
    matrices = layer_matrices(net)
    sizes = [info.obs_dim, *info.hidden_dense, matrices[-1].shape[0]]
    return PolicyWeights(
        matrices=[np.abs(w) for w in matrices],
        dense_shapes=list(zip(sizes[1:], sizes[:-1])),
    )


def layer_matrices(net: CompactMLP) -> list[np.ndarray]:
    """Each layer's effective weight matrix; a low-rank layer (L0) is up @ down."""
    return [
        (layer.up.weight @ layer.down.weight if isinstance(layer, LowRankLinear) else layer.weight)
        .detach()
        .numpy()
        for layer in net.linears
    ]

"""The frontier search's summary run: one row per probe, written when the search ends (or is
interrupted), read by the report and `rayprune best --frontier`."""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from mlflow.tracking import MlflowClient

from rayprune import names
from rayprune.errors import ArtifactError, SweepError
from rayprune.store.metrics import env_steps_logged
from rayprune.store.tracking import experiment_id, log_summary, trial_runs

SUMMARY = "frontier"  # the sweep-level MLflow run and its frontier.json / .csv
RANDOM = "random"  # the row of the uniformly random policy


class FrontierRow(NamedTuple):
    """A probe at its best lambda (or a reference: method ppo, or random): the units it kept,
    in its method's unit, and its retained return over the seeds."""

    method: str
    sparsity_target: float
    lam: float
    kept: float
    unit: str
    eval_return_mean: float
    retained_mean: float
    retained_std: float
    seeds: int
    keeps: bool  # retained_mean >= the search's keep
    frontier: bool  # the sparsest probe of its method that keeps

    def to_json(self) -> dict[str, Any]:
        return {
            names.METHOD: self.method,
            names.SPARSITY_TARGET: self.sparsity_target,
            names.LAMBDA: self.lam,
            "kept": self.kept,
            "unit": self.unit,
            names.EVAL_RETURN_MEAN: self.eval_return_mean,
            names.RETAINED_RETURN_MEAN: self.retained_mean,
            names.RETAINED_RETURN_STD: self.retained_std,
            "seeds": self.seeds,
            "keeps": self.keeps,
            "frontier": self.frontier,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FrontierRow:
        return cls(
            str(raw[names.METHOD]),
            float(raw[names.SPARSITY_TARGET]),
            float(raw[names.LAMBDA]),
            float(raw["kept"]),
            str(raw["unit"]),
            float(raw[names.EVAL_RETURN_MEAN]),
            float(raw[names.RETAINED_RETURN_MEAN]),
            float(raw[names.RETAINED_RETURN_STD]),
            int(raw["seeds"]),
            bool(raw["keeps"]),
            bool(raw["frontier"]),
        )


def log_frontier(rows: list[FrontierRow], tracking_uri: str, sweep: str, description: str) -> str:
    return log_summary(tracking_uri, sweep, SUMMARY, [r.to_json() for r in rows], description)


def read_frontier(client: MlflowClient, sweep: str) -> list[FrontierRow] | None:
    """The rows of the sweep's frontier run; None when it has none (not a frontier search, or
    one stopped before dense PPO finished)."""
    runs = client.search_runs(
        [experiment_id(client, sweep)], filter_string=f"tags.`{names.SUMMARY_TAG}` = '{SUMMARY}'"
    )
    if not runs:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(runs[0].info.run_id, f"{SUMMARY}.json", tmp)
        try:
            return [FrontierRow.from_json(r) for r in json.loads(Path(path).read_text())]
        except (ValueError, KeyError, TypeError) as err:
            raise ArtifactError(f"the frontier run of {sweep!r} is unreadable: {err}") from None


class DenseResult(NamedTuple):
    """A finished dense PPO trial of an earlier sweep."""

    seed: int
    eval_return: float
    neurons: float


def dense_results(
    client: MlflowClient, sweep: str, env: str, seeds: list[int]
) -> list[DenseResult]:
    """The finished dense PPO trials of `sweep` on `env`, one per seed of `seeds`: an earlier
    sweep as a frontier search's reference. Every seed must be there."""
    found: dict[int, DenseResult] = {}
    for run in trial_runs(client, sweep):
        params, metrics = run.data.params, run.data.metrics
        if params.get(names.METHOD) != names.DENSE_METHOD or names.EVAL_RETURN_MEAN not in metrics:
            continue
        if params.get(names.ENV) != env:
            raise SweepError(
                f"search.reference: sweep {sweep!r} trained on {params.get(names.ENV)}, not {env}"
            )
        seed = int(params[names.SEED])
        found[seed] = DenseResult(
            seed, metrics[names.EVAL_RETURN_MEAN], metrics.get(names.NEURONS_COMPACT, math.nan)
        )
    missing = [seed for seed in seeds if seed not in found]
    if missing:
        raise SweepError(
            f"search.reference: sweep {sweep!r} has no finished dense PPO trial of seed "
            f"{missing[0]} (it has seeds {sorted(found) or 'none'})"
        )
    return [found[seed] for seed in seeds]


class SearchCost(NamedTuple):
    """What a sweep spent: per method (ppo: the dense reference) its trials, failed ones
    included, and their env steps; and the minutes from its first trial's start to its last
    trial's end (an interrupted sweep's pause included)."""

    trials: dict[str, int]
    env_steps: dict[str, int]
    wall_minutes: float


def search_cost(client: MlflowClient, sweep: str) -> SearchCost:
    """A sweep's cost, read from its trial runs: a reference sweep's dense PPO is not this
    sweep's, so it counts nothing here."""
    runs = trial_runs(client, sweep, finished_only=False)
    trials, steps = Counter(), Counter()
    for run in runs:
        method = run.data.params.get(names.METHOD, "?")
        trials[method] += 1
        steps[method] += env_steps_logged(client, run.info.run_id)
    ends = [r.info.end_time or r.info.start_time for r in runs]
    wall = (max(ends) - min(r.info.start_time for r in runs)) / 60_000 if runs else 0.0
    order = sorted(trials, key=lambda m: (m != names.DENSE_METHOD, m))  # dense PPO first
    return SearchCost({m: trials[m] for m in order}, {m: steps[m] for m in order}, wall)

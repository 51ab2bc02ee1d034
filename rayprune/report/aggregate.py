"""Mean and std over seeds per cell of the grid (method x lambda x sparsity_target), the best
lambda per method and sparsity, and the curves' bands: pure functions of the loaded trials."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rayprune import names
from rayprune.report.data import CellKey, History, Trial
from rayprune.report.paper import method_order
from rayprune.store.pareto import Outcome, pareto_front
from rayprune.store.ranking import Pick, Standing, pick, trial_standing


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and population std (ddof 0, as benchmarks/sweep_table.py prints) of the finite
    values: a seed whose metric is missing or NaN does not count. (nan, nan) without any."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.pstdev(finite)


@dataclass(frozen=True)
class Cell:
    """The trials of one grid point, one per seed."""

    key: CellKey
    trials: tuple[Trial, ...]

    @property
    def method(self) -> str:
        return self.key[0]

    @property
    def lam(self) -> float:
        return self.key[1]

    @property
    def sparsity_target(self) -> float:
        return self.key[2]

    @property
    def dense(self) -> bool:
        return self.method == names.DENSE_METHOD

    @property
    def seeds(self) -> int:
        return len(self.trials)

    @property
    def reached(self) -> int:
        """How many seeds reached their sparsity target."""
        return sum(t.metric(names.TARGET_REACHED) == 1.0 for t in self.trials)

    def stat(self, key: str) -> tuple[float, float]:
        return mean_std(t.metric(key) for t in self.trials)

    def mean(self, key: str) -> float:
        return self.stat(key)[0]

    def summary(self) -> dict[str, Any]:
        """One row of the report's report.json / report.csv."""
        ret, std = self.stat(names.EVAL_RETURN_MEAN)
        return {
            names.METHOD: self.method,
            names.LAMBDA: self.lam,
            names.SPARSITY_TARGET: self.sparsity_target,
            "seeds": self.seeds,
            names.EVAL_RETURN_MEAN: ret,
            names.EVAL_RETURN_STD: std,
            names.TARGET_REACHED: self.reached,
            **{key: self.mean(key) for key in names.FINAL_SIZE_METRICS},
        }


def cells(trials: Iterable[Trial]) -> list[Cell]:
    """Trials grouped by grid point (seeds pooled), in the paper's method order, then sparsity
    and lambda. Dense PPO is logged at lambda 0 and sparsity 0, so it is a single cell."""
    groups: dict[CellKey, list[Trial]] = defaultdict(list)
    for trial in trials:
        groups[trial.cell].append(trial)
    order = sorted(groups, key=lambda k: (method_order(k[0]), k[2], k[1]))
    return [Cell(key, tuple(sorted(groups[key], key=lambda t: t.seed))) for key in order]


def cell_standing(cell: Cell) -> Standing:
    """A grid cell under `rayprune best`'s rule (store.ranking), with its means over seeds."""
    return Standing(
        score=cell.mean(names.EVAL_RETURN_MEAN),
        weights=cell.mean(names.WEIGHTS_COMPACT),
        training_return=cell.mean(names.EPISODE_RETURN_MEAN),
        lam=cell.lam,
        seed=min(t.seed for t in cell.trials),
    )


def lambda_picks(all_cells: Sequence[Cell]) -> list[Pick[Cell]]:
    """Per (method, sparsity_target), the lambda cell the rule picks, in input order."""
    slots: dict[tuple[str, float], list[Cell]] = defaultdict(list)
    for cell in all_cells:
        slots[(cell.method, cell.sparsity_target)].append(cell)
    picks = {slot: pick(group, cell_standing) for slot, group in slots.items()}
    chosen = {p.chosen.key: p for p in picks.values()}
    return [chosen[c.key] for c in all_cells if c.key in chosen]


def best_lambda(all_cells: Sequence[Cell]) -> list[Cell]:
    """Per (method, sparsity_target), the lambda cell the rule picks, in input order."""
    return [p.chosen for p in lambda_picks(all_cells)]


def trial_pick(trials: Iterable[Trial]) -> Pick[Trial] | None:
    """What `rayprune best` picks among these trials: those that reached their target (all of
    them if none did), by the rule."""
    trials = list(trials)
    reached = [t for t in trials if t.metric(names.TARGET_REACHED) == 1.0] or trials
    return pick(reached, lambda t: trial_standing(t.metrics, t.point)) if reached else None


def best_trial(trials: Iterable[Trial]) -> Trial | None:
    chosen = trial_pick(trials)
    return None if chosen is None else chosen.chosen


@dataclass(frozen=True)
class Band:
    """A curve over seeds: at each iteration, the mean x and the mean and std of y."""

    x: list[float]
    mean: list[float]
    std: list[float]


def seed_band(curves: Sequence[History]) -> Band:
    """Per training iteration (each seed's i-th logged row), y's mean and std over the seeds
    that logged it, plotted at the mean env steps (the rows' steps) of those seeds: seeds of
    one batch size sample a few steps more or less per iteration, so they align by iteration,
    not by step. A NaN y (an iteration in which no episode ended: episode_return_mean is NaN
    then) repeats the seed's last finite y; before the first one the seed does not count.
    Averaging without the seed instead makes the mean jump whenever one seed's episodes span
    two iterations."""
    steps = [sorted(curve) for curve in curves]
    filled = [carry_forward(curve) for curve in curves]
    band = Band([], [], [])
    for i in range(max(map(len, steps), default=0)):
        pairs = [(s[i], y[s[i]]) for s, y in zip(steps, filled, strict=True) if s[i:] and s[i] in y]
        if pairs:
            mean, std = mean_std(v for _, v in pairs)
            band.x.append(statistics.fmean(x for x, _ in pairs))
            band.mean.append(mean)
            band.std.append(std)
    return band


def carry_forward(history: History) -> History:
    """NaN values replaced by the last finite one before them; leading NaNs dropped."""
    out: History = {}
    last = math.nan
    for step in sorted(history):
        last = history[step] if math.isfinite(history[step]) else last
        if math.isfinite(last):
            out[step] = last
    return out


def front(trials: Iterable[Trial]) -> list[Outcome]:
    """The sweep's Pareto front (eval return up, compact weights down), as the sweep logs it."""
    return pareto_front(
        [
            Outcome(
                t.name, t.point, t.metric(names.EVAL_RETURN_MEAN), t.metric(names.WEIGHTS_COMPACT)
            )
            for t in trials
        ]
    )

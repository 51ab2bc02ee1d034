"""One pass over the MLflow store into everything the report draws: the sweeps, their grid
cells and best lambdas, the curves of the chosen cells, the weights of the pictured policies.
render.py then works from this data alone."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from rayprune import names
from rayprune.report.aggregate import Cell, best_lambda, best_trial, cells
from rayprune.report.data import (
    History,
    PolicyWeights,
    Sweep,
    Trial,
    load_histories,
    load_policy_weights,
    load_sweep,
    merge_parts,
)

CURVE_KEYS = (names.ENV_STEPS, names.EPISODE_RETURN_MEAN, names.SPARSITY_NOW)
SHOWN_PRUNED = "dsp"  # the weight heatmaps compare dense PPO with the paper's method


@dataclass(frozen=True)
class Pictured:
    """A trial whose actor weights the report draws."""

    trial: Trial
    weights: PolicyWeights


@dataclass(frozen=True)
class Section:
    """One environment's part of the report: sweeps with equal settings merged into one."""

    sweep: Sweep
    cells: list[Cell]
    best: list[Cell]  # per method and sparsity target, the cell of the best lambda
    histories: dict[tuple[str, str], History]  # (run_id, metric) of the best cells' trials
    dense: Pictured | None
    pruned: Pictured | None


@dataclass(frozen=True)
class ReportData:
    tracking_uri: str
    sweeps: list[Sweep]  # as asked for, each with its own summary run
    sections: list[Section]


def load_report(client: MlflowClient, tracking_uri: str, sweep_names: list[str]) -> ReportData:
    sweeps = [load_sweep(client, name) for name in dict.fromkeys(sweep_names)]
    return ReportData(tracking_uri, sweeps, [load_section(client, s) for s in merge_parts(sweeps)])


def load_section(client: MlflowClient, sweep: Sweep) -> Section:
    grid = cells(sweep.trials)
    best = best_lambda(grid)
    keys = [*CURVE_KEYS, *sweep.layers]
    histories = load_histories(client, [t.run_id for c in best for t in c.trials], keys)
    dense, pruned = pictured_trials(sweep)
    return Section(
        sweep=sweep,
        cells=grid,
        best=best,
        histories=histories,
        dense=dense and Pictured(dense, load_policy_weights(client, dense.run_id)),
        pruned=pruned and Pictured(pruned, load_policy_weights(client, pruned.run_id)),
    )


def pictured_trials(sweep: Sweep) -> tuple[Trial | None, Trial | None]:
    """Dense PPO's best run, and the best DSP run at DSP's highest sparsity target (another
    method's when the sweep has no DSP); (None, None) when nothing was pruned."""
    pruned = [t for t in sweep.trials if t.method != names.DENSE_METHOD]
    shown = [t for t in pruned if t.method == SHOWN_PRUNED] or pruned
    if not shown:
        return None, None
    top = max(t.sparsity_target for t in shown)
    dense = best_trial(t for t in sweep.trials if t.method == names.DENSE_METHOD)
    return dense, best_trial(t for t in shown if t.sparsity_target == top)

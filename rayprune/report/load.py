"""One pass over the MLflow store into everything the report draws: the sweeps, their grid
cells and best lambdas, the curves of the chosen cells, the weights of the pictured policies.
render.py then works from this data alone."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from rayprune import names
from rayprune.report.aggregate import Cell, best_trial, cells, lambda_picks, trial_pick
from rayprune.report.data import (
    PART_SEPARATOR,
    History,
    PolicyWeights,
    Sweep,
    Trial,
    load_histories,
    load_policy_weights,
    load_sweep,
    merge_parts,
)
from rayprune.store.frontier_record import FrontierRow, read_frontier
from rayprune.store.ranking import Pick

CURVE_KEYS = (names.EPISODE_RETURN_MEAN, names.SPARSITY_NOW)
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
    picks: list[Pick[Cell]]  # per method and sparsity target, the best lambda and its ties
    histories: dict[tuple[str, str], History]  # (run_id, metric) of the best cells' trials
    dense: Pictured | None
    pruned: Pictured | None
    best_run: Pick[Trial] | None  # what `rayprune best` would register
    frontier: list[FrontierRow] | None = None  # a frontier search's probes (store.frontier_record)

    @property
    def best(self) -> list[Cell]:
        """Per method and sparsity target, the cell of the best lambda."""
        return [p.chosen for p in self.picks]


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
    picks = lambda_picks(grid)
    best = [p.chosen for p in picks]
    keys = [*CURVE_KEYS, *sweep.layers]
    histories = load_histories(client, [t.run_id for c in best for t in c.trials], keys)
    dense, pruned = pictured_trials(best)
    return Section(
        sweep=sweep,
        cells=grid,
        picks=picks,
        histories=histories,
        dense=dense and Pictured(dense, load_policy_weights(client, dense.run_id)),
        pruned=pruned and Pictured(pruned, load_policy_weights(client, pruned.run_id)),
        best_run=trial_pick(sweep.trials),
        frontier=frontier_rows(client, sweep),
    )


def frontier_rows(client: MlflowClient, sweep: Sweep) -> list[FrontierRow] | None:
    """The frontier run of a frontier search (of its first part, when parts were merged)."""
    if sweep.search != "frontier":
        return None
    return read_frontier(client, sweep.name.split(PART_SEPARATOR)[0])


def pictured_trials(best: list[Cell]) -> tuple[Trial | None, Trial | None]:
    """Dense PPO's best seed, and the best seed of DSP's best lambda at its highest sparsity
    target (another method's when the sweep has no DSP), both by `rayprune best`'s rule, so
    the figure shows the lambda the tables name; (None, None) when nothing was pruned."""
    pruned = [c for c in best if not c.dense]
    shown = [c for c in pruned if c.method == SHOWN_PRUNED] or pruned
    if not shown:
        return None, None
    top = max(shown, key=lambda c: c.sparsity_target)
    dense = next((c for c in best if c.dense), None)
    return (dense and best_trial(dense.trials)), best_trial(top.trials)

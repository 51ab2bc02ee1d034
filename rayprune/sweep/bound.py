"""How big a sweep is before it runs: its trials and their env steps, printed by `sweep` and
checked against --max-trials."""

from __future__ import annotations

from typing import NamedTuple

from rayprune.policy import EnvSpaces
from rayprune.sweep.config import SweepConfig
from rayprune.sweep.config.grid import cells
from rayprune.sweep.config.specs import pruning_budget
from rayprune.sweep.frontier.plan import method_searches


class Bound(NamedTuple):
    """The most trials a sweep runs, and the env steps they train in all."""

    trials: int
    env_steps: int


def bound(cfg: SweepConfig, spaces: EnvSpaces) -> Bound:
    """Grid points, Optuna's samples, or the most a frontier search can run (its levels come
    from the network's widths, so it takes the checked environment's spaces)."""
    if cfg.search.kind == "optuna":
        trials = cfg.search.num_samples
        return Bound(trials, trials * cfg.budget_env_steps)
    if cfg.search.kind == "frontier":
        searches = method_searches(cfg, spaces)
        probes = len(cfg.grid.seed) * sum(s.most_probes * len(s.lambdas) for s in searches)
        dense = 0 if cfg.search.reference else len(cfg.grid.seed)  # an earlier sweep's
        steps = dense * cfg.budget_env_steps + probes * pruning_budget(cfg)[0]
        return Bound(dense + probes, steps)
    trials = len(cells(cfg)) * len(cfg.grid.seed)
    return Bound(trials, trials * cfg.budget_env_steps)

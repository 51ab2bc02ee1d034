"""The trials a config asks for: per method its lambdas and sparsity targets, the cells they
make, and each cell once per seed."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from rayprune.pruning import METHODS
from rayprune.store.point import TrialPoint

if TYPE_CHECKING:
    from rayprune.sweep.config.schema import SweepConfig


def lambdas(cfg: SweepConfig, method: str) -> list[float]:
    """The lambdas `method` runs with: grid.lambda, or 0 for a method without a penalty."""
    return cfg.grid.lam if METHODS[method].penalty else [0.0]


def targets(cfg: SweepConfig, method: str) -> list[float]:
    """The sparsity targets `method` runs with: 0 for a method that does not prune, else
    grid.sparsity_target (a frontier search's are found by it: its lower bound stands in for
    them in the checks)."""
    if not METHODS[method].importance:
        return [0.0]
    if cfg.search.kind == "frontier":
        return [cfg.search.sparsity_min]
    return cfg.grid.sparsity_target


def cells(cfg: SweepConfig) -> list[tuple[str, float, float]]:
    """The grid's (method, lambda, sparsity_target) cells. A method without a penalty runs
    once at lambda = 0, one that does not prune once at sparsity_target = 0."""
    return [
        (method, lam, target)
        for method in cfg.grid.method
        for lam, target in itertools.product(lambdas(cfg, method), targets(cfg, method))
    ]


def points(cfg: SweepConfig) -> list[TrialPoint]:
    """The grid's trials: every cell once per seed."""
    return [
        TrialPoint(method, lam, target, seed)
        for method, lam, target in cells(cfg)
        for seed in cfg.grid.seed
    ]

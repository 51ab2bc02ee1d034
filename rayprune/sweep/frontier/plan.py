"""A config's frontier search laid out: per pruning method of grid.method, the sparsity levels
its bisection runs over (from the network's widths), its lambdas and seeds."""

from __future__ import annotations

from rayprune.policy import EnvSpaces
from rayprune.pruning import METHODS, unit_layers
from rayprune.store.point import TrialPoint
from rayprune.sweep.config import SweepConfig
from rayprune.sweep.config.env_check import actor_widths
from rayprune.sweep.config.grid import lambdas
from rayprune.sweep.config.specs import network_for, spec_for
from rayprune.sweep.frontier.bisection import MethodSearch
from rayprune.sweep.frontier.levels import sparsity_levels, thinned

# The most levels a frontier search bisects per method: at most 7 probes. Neuron units have
# fewer on most networks; weight units have thousands, thinned evenly in log(kept).
FRONTIER_LEVELS = 64


def method_searches(cfg: SweepConfig, spaces: EnvSpaces) -> list[MethodSearch]:
    """Per pruning method of grid.method, the levels its frontier search bisects."""
    searches = []
    for method in cfg.grid.method:
        if not METHODS[method].importance:
            continue
        point = TrialPoint(method, lambdas(cfg, method)[0], cfg.search.sparsity_min, 0)
        layers = unit_layers(
            spec_for(cfg, point), actor_widths(cfg, spaces), network_for(cfg, point).gates
        )
        levels = thinned(
            sparsity_levels(layers, cfg.search.sparsity_min, cfg.search.sparsity_max),
            FRONTIER_LEVELS,
        )
        searches.append(
            MethodSearch(
                method,
                layers.unit,
                tuple(levels),
                tuple(lambdas(cfg, method)),
                tuple(cfg.grid.seed),
            )  # fmt: skip
        )
    return searches

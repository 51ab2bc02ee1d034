"""The pre-flight check, a step of its own that the CLI and the runner call after validation:
the environment built, reset and stepped, and every grid point's target against the widths it
gives the network."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rayprune.errors import ConfigError, SpecError
from rayprune.policy import EnvSpaces, check_env
from rayprune.pruning import check_reachable
from rayprune.store.point import TrialPoint
from rayprune.sweep.config.grid import cells
from rayprune.sweep.config.specs import env_spec, network_for, spec_for

if TYPE_CHECKING:
    from rayprune.sweep.config.schema import SweepConfig


def check_environment(cfg: SweepConfig) -> EnvSpaces:
    """The environment's spaces, once it has been built and stepped and every grid point's
    target fits the network; else one line saying what failed."""
    importable(cfg.py_modules)
    spaces = check_env(env_spec(cfg))
    check_targets_reachable(cfg, spaces)
    return spaces


def importable(py_modules: Sequence[str]) -> None:
    """Make the modules the sweep ships to its workers importable here too, where the
    environment is checked before anything starts."""
    for module in py_modules:
        path = Path(module).resolve()
        if not path.exists():
            raise ConfigError(f"py_modules: {module} does not exist")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))


def actor_widths(cfg: SweepConfig, spaces: EnvSpaces) -> list[int]:
    """The actor's layer widths: observation, hidden layers, action head."""
    return [spaces.obs_dim, *cfg.model.hidden, spaces.action_space.width]


def check_targets_reachable(cfg: SweepConfig, spaces: EnvSpaces) -> None:
    """Every grid point's target against the network's floor, once the environment's
    observation and action widths are known."""
    widths = actor_widths(cfg, spaces)
    for method, lam, target in cells(cfg):
        point = TrialPoint(method, lam, target, cfg.grid.seed[0])
        try:
            check_reachable(spec_for(cfg, point), widths, network_for(cfg, point).gates)
        except SpecError as err:
            raise ConfigError(f"invalid config: grid point {point.slug}: {err}") from None

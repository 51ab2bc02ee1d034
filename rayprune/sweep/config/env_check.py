"""The pre-flight check, a step of its own that the CLI and the runner call after validation:
the environment's settings fit for compression.json, the environment built and run as a trial
runs it (reset and a few steps, every observation and reward checked: policy.check_env), and
every grid point's target against the widths it gives the network. Whatever the user's
environment raises or returns wrong is one line here, before anything starts."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    check_settings_json(cfg)
    spaces = check_env(env_spec(cfg))
    check_targets_reachable(cfg, spaces)
    return spaces


def check_settings_json(cfg: SweepConfig) -> None:
    """env_config and the wrappers' kwargs go to compression.json, standard JSON, which
    rebuilds the environment for `rayprune eval`: a number that is not finite (JSON has none),
    a value JSON has no type for (a YAML date, say) or a key that is not a string (JSON would
    make it one) is refused here, as the config's other non-finite numbers are, not at the end
    of a trial."""
    _check_json("env_config", cfg.env_config)
    for i, wrapper in enumerate(cfg.wrappers):
        _check_json(f"wrappers.{i}.kwargs", wrapper.kwargs)


def _check_json(key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub_key, sub in value.items():
            if not isinstance(sub_key, str):
                raise ConfigError(
                    f"invalid config: {key}: the key {sub_key!r} is not a string (quote it)"
                )
            _check_json(f"{key}.{sub_key}", sub)
    elif isinstance(value, list | tuple):
        for i, sub in enumerate(value):
            _check_json(f"{key}.{i}", sub)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"invalid config: {key}: Input should be a finite number")
    elif not isinstance(value, str | int | float | bool | type(None)):
        raise ConfigError(
            f"invalid config: {key}: a {type(value).__name__} is not a JSON value (quote it to "
            "pass a string)"
        )


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

"""The sweep config: its schema, how a file becomes one, and what it implies (the trials, each
trial's specs, the pre-flight check), one module each."""

from rayprune.sweep.config.loading import load_config, parse_config
from rayprune.sweep.config.schema import SweepConfig

__all__ = ["SweepConfig", "load_config", "parse_config"]

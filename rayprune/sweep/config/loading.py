"""A config file or mapping to a validated SweepConfig, or one line saying what is wrong.
Validation builds nothing: the environment is checked by env_check.check_environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rayprune.errors import ConfigError
from rayprune.sweep.config.overrides import apply_overrides
from rayprune.sweep.config.schema import SweepConfig
from rayprune.sweep.config.yaml_text import parse_yaml


def parse_config(raw: Any) -> SweepConfig:
    if not isinstance(raw, dict):
        raise ConfigError("the sweep config must be a YAML mapping")
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(one_line(err)) from None


def load_config(path: Path, overrides: list[str] = ()) -> SweepConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    raw = parse_yaml(text, str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a YAML mapping")
    return parse_config(apply_overrides(raw, list(overrides)))


def one_line(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "config"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}")
    return "invalid config: " + "; ".join(parts)

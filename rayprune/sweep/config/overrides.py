"""`--set key.sub=value`: a value, parsed as YAML, put into the raw mapping before validation."""

from __future__ import annotations

from typing import Any

from rayprune.errors import ConfigError
from rayprune.sweep.config.yaml_text import parse_yaml


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key.sub=value` pairs (value parsed as YAML) applied onto the raw mapping."""
    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        node = raw
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {key!r} is not a section")
        node[leaf] = parse_yaml(text, f"override {item!r}")
    return raw

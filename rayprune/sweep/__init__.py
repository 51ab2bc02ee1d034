"""Sweep orchestration: typed config, Tune trials, the search, the cluster, the workspace.

Names load on first use (PEP 562), so what only reads the config or the workspace never pays
for importing Ray.
"""

from importlib import import_module

_HOMES = {
    "SweepConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "resume_sweep": "runner",
    "start_sweep": "runner",
    "DEFAULT_RESULTS": "workspace",
    "Workspace": "workspace",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)

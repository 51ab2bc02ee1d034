"""Sweep orchestration: typed config, Tune trials, the search, the cluster, the workspace.

Names load on first use (PEP 562), so what only reads the config or the workspace never pays
for importing Ray.
"""

from rayprune.lazy import lazy_attributes

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

__getattr__ = lazy_attributes(__name__, _HOMES)

"""Sweep orchestration: typed config, Tune trials, MLflow tracking, best-policy selection.

Names load on first use (PEP 562), so what only reads MLflow (`best`, `report`) never pays for
importing Ray.
"""

from importlib import import_module

_HOMES = {
    "NoEligibleRun": "best",
    "choose_best": "best",
    "download_best": "best",
    "register_best": "best",
    "ClusterError": "errors",
    "ConfigError": "config",
    "SweepConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "SweepError": "errors",
    "resume_sweep": "runner",
    "start_sweep": "runner",
    "ExperimentNotFound": "tracking",
    "TrackingUnavailable": "tracking",
    "check_tracking_server": "tracking",
    "DEFAULT_RESULTS": "workspace",
    "SweepNotFound": "workspace",
    "Workspace": "workspace",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)

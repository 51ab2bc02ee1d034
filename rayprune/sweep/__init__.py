"""Sweep orchestration: typed config, Tune trials, MLflow tracking, best-policy selection."""

from rayprune.sweep.best import NoEligibleRun, choose_best, download_best, register_best
from rayprune.sweep.cluster import ClusterError
from rayprune.sweep.config import ConfigError, SweepConfig, load_config, parse_config
from rayprune.sweep.runner import SweepError, resume_sweep, start_sweep
from rayprune.sweep.tracking import ExperimentNotFound, TrackingUnavailable, check_tracking_server
from rayprune.sweep.workspace import DEFAULT_RESULTS, SweepNotFound, Workspace

__all__ = [
    "DEFAULT_RESULTS",
    "ClusterError",
    "ConfigError",
    "ExperimentNotFound",
    "NoEligibleRun",
    "SweepConfig",
    "SweepError",
    "SweepNotFound",
    "TrackingUnavailable",
    "Workspace",
    "check_tracking_server",
    "choose_best",
    "download_best",
    "load_config",
    "parse_config",
    "register_best",
    "resume_sweep",
    "start_sweep",
]

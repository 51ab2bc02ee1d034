"""Launch and resume sweeps: one Tune trial per grid point, on a local or remote Ray."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ray import tune

from rayprune.policy import check_env
from rayprune.sweep import search
from rayprune.sweep.cluster import preflight, ray_session
from rayprune.sweep.config import SweepConfig, parse_config, run_name, trial_key
from rayprune.sweep.errors import SweepError
from rayprune.sweep.pareto import report_front
from rayprune.sweep.tracking import (
    create_experiment,
    end_stopped_runs,
    fail_unfinished_runs,
)
from rayprune.sweep.trainable import train_trial
from rayprune.sweep.workspace import Workspace


def _trainable():
    return tune.with_resources(train_trial, {"cpu": 1})


def _reporter():
    return tune.CLIReporter(
        parameter_columns={
            "point/method": "method",
            "point/lambda": "lambda",
            "point/sparsity_target": "sparsity_target",
            "point/seed": "seed",
        },
        metric_columns={
            "env_steps": "env_steps",
            "episode_return_mean": "return",
            "neurons": "neurons",
            "eval_return_mean": "eval_return",
        },
        max_report_frequency=30,
    )


def trial_dirname(trial) -> str:
    return f"{run_name(trial.config['point'])}_{trial.trial_id}"


def start_sweep(cfg: SweepConfig, ws: Workspace) -> SweepOutcome:
    """Run a new sweep to the end, or until interrupted (Ctrl-C stops it gracefully)."""
    if ws.sweep_file(cfg.name).exists():
        raise FileExistsError(
            f"a sweep named {cfg.name!r} exists in {ws.root}; `rayprune resume {cfg.name}` continues it"
        )
    if _tune_dir(ws, cfg.name).exists():
        raise FileExistsError(f"{_tune_dir(ws, cfg.name)} exists; refusing to overwrite it")
    search.check_search(cfg)
    check_env(cfg.env)
    preflight(ws.address, ws.tracking_uri)
    # Refuses a name already taken in the store, before the sweep is recorded.
    create_experiment(ws.tracking_uri, cfg.name, ws.artifact_location)
    ws.save_sweep(cfg.name, cfg.dump())
    print(f"rayprune: sweep {cfg.name!r}: {search.describe(cfg)} on {cfg.env}")
    with ray_session(ws.address):
        tuner = tune.Tuner(
            _trainable(),
            param_space=search.param_space(cfg, ws.tracking_uri),
            tune_config=tune.TuneConfig(
                max_concurrent_trials=cfg.max_concurrent_trials,
                trial_dirname_creator=trial_dirname,
                **search.tune_options(cfg),
            ),
            run_config=tune.RunConfig(
                name=cfg.name,
                storage_path=ws.storage,
                failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                # a retry or resume needs only the newest checkpoint; keep one spare
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                progress_reporter=_reporter(),
                callbacks=search.callbacks(cfg, ws.tracking_uri),
                verbose=1,
            ),
        )
        return _finish(tuner.fit(), cfg, ws)


def resume_sweep(name: str, ws: Workspace) -> SweepOutcome:
    """Continue an interrupted sweep: finished trials stay, the rest resume from checkpoints
    (Tune restores the searcher's state and the callbacks with them)."""
    raw, recorded = ws.load_sweep(name)
    cfg = parse_config(raw)
    address = ws.address or recorded.address
    preflight(address, recorded.tracking_uri)
    path = _tune_dir(recorded, name)
    if not tune.Tuner.can_restore(str(path)):
        raise SweepError(f"no Tune state for sweep {name!r} at {path}")
    print(f"rayprune: resuming sweep {name!r} from {path}")
    with ray_session(address):
        tuner = tune.Tuner.restore(str(path), trainable=_trainable(), resume_errored=True)
        return _finish(tuner.fit(), cfg, recorded)


def _tune_dir(ws: Workspace, name: str) -> Path:
    return Path(ws.storage) / name


@dataclass(frozen=True)
class SweepOutcome:
    finished: int
    failed: int
    unfinished: int  # interrupted or never started: `rayprune resume` continues them
    stopped_early: int  # by the scheduler: no final eval, no compact policy


def _finish(results, cfg: SweepConfig, ws: Workspace) -> SweepOutcome:
    stopped = end_stopped_runs(ws.tracking_uri, cfg.name)
    fail_unfinished_runs(ws.tracking_uri, cfg.name)
    counts = {"finished": 0, "failed": 0, "unfinished": 0, "stopped_early": 0}
    finished = []
    print(f"\n{'trial':<34} {'eval_return':>12} {'neurons':>8} {'weights':>8}")
    for result in results:
        name = run_name(result.config["point"]) if result.config else "(not started)"
        metrics = result.metrics or {}
        if result.error is not None:
            counts["failed"] += 1
            print(f"{name:<34} {'FAILED':>12}")
        elif "eval_return_mean" in metrics:
            counts["finished"] += 1
            point = dict(sorted(result.config["point"].items()))  # Optuna's come in any order
            objectives = {key: metrics[key] for key in search.OBJECTIVES}
            finished.append({"trial": name, "method": point["method"], **point, **objectives})
            print(
                f"{name:<34} {metrics['eval_return_mean']:>12.1f} "
                f"{metrics['neurons_compact']:>8.0f} {metrics['weights_compact']:>8.0f}"
            )
        elif result.config and trial_key(cfg.name, result.config["point"]) in stopped:
            counts["stopped_early"] += 1
            print(
                f"{name:<34} {'STOPPED':>12}   early, at {metrics.get('env_steps', 0):.0f} env steps"
            )
        else:
            counts["unfinished"] += 1
            print(f"{name:<34} {'UNFINISHED':>12}")
    if cfg.search.kind == "optuna":
        report_front(finished, ws.tracking_uri, cfg.name)
    print(
        f"\nResults of {cfg.name!r}:\n"
        f"  MLflow runs:  {ws.tracking_uri} (experiment {cfg.name!r}); browse with `rayprune ui`\n"
        f"  Tune state:   {_tune_dir(ws, cfg.name)}\n"
        f"  best policy:  `rayprune best {cfg.name} --out ./best_policy`"
    )
    return SweepOutcome(**counts)

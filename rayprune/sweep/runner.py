"""Launch and resume sweeps: one Tune trial per grid point, on a local or remote Ray."""

from __future__ import annotations

import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path

from ray import tune

from rayprune import names
from rayprune.errors import AlreadyExists, SweepError
from rayprune.store.best import log_ranks
from rayprune.store.pareto import SUMMARY, Outcome, log_front, pareto_front
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import (
    check_experiment_free,
    create_experiment,
    end_interrupted_runs,
    end_stopped_runs,
    experiment_artifacts,
    fail_unfinished_runs,
)
from rayprune.store.views import sweep_link
from rayprune.sweep import search
from rayprune.sweep.checkpoints import trained
from rayprune.sweep.cluster import preflight, ray_session, single_node
from rayprune.sweep.config import SweepConfig, parse_config
from rayprune.sweep.config.env_check import check_environment, importable
from rayprune.sweep.frontier.conclusion import conclude
from rayprune.sweep.frontier.searcher import reference_trials
from rayprune.sweep.signals import stopped_by
from rayprune.sweep.trainable import train_trial
from rayprune.sweep.workspace import Workspace


def _trainable():
    return tune.with_resources(train_trial, {"cpu": 1})


def _reporter():
    return tune.CLIReporter(
        parameter_columns={f"point/{name}": name for name in names.POINT_PARAMS},
        metric_columns={
            names.ENV_STEPS: names.ENV_STEPS,
            names.EPISODE_RETURN_MEAN: "return",
            names.NEURONS: "neurons",
            names.EVAL_RETURN_MEAN: "eval_return",
        },
        max_report_frequency=30,
    )


def trial_dirname(trial) -> str:
    return f"{TrialPoint.from_params(trial.config['point']).slug}_{trial.trial_id}"


def start_sweep(cfg: SweepConfig, ws: Workspace) -> SweepOutcome:
    """Run a new sweep to the end, or until interrupted (Ctrl-C, SIGTERM and SIGHUP stop it
    gracefully); the caller has run cluster.preflight on ws's address and tracking URI."""
    # Before the lock's file is written, so that a taken name writes nothing. (Not under the
    # lock: closing any descriptor of the lock file would release this process's lock.)
    ws.check_not_running(cfg.name)
    check_name_free(cfg.name, ws)
    with ws.sweep_lock(cfg.name):
        return _start(cfg, ws)


def check_name_free(name: str, ws: Workspace) -> None:
    """No sweep record, Tune folder or MLflow experiment of that name yet; reads only."""
    if ws.sweep_file(name).exists():
        raise AlreadyExists(
            f"a sweep named {name!r} exists in {ws.root}; `rayprune resume {name}` continues it"
        )
    if _tune_dir(ws, name).exists():
        raise AlreadyExists(f"{_tune_dir(ws, name)} exists; refusing to overwrite it")
    check_experiment_free(ws.tracking_uri, name)


def _start(cfg: SweepConfig, ws: Workspace) -> SweepOutcome:
    check_name_free(cfg.name, ws)  # again, under the lock: a racing driver may have won it
    search.check_search(cfg)
    spaces = check_environment(cfg)
    reference_trials(cfg, ws.tracking_uri)  # a reference sweep must hold every seed's dense PPO
    check_dense_starts(cfg, ws)
    # Ray first: a cluster that cannot start leaves no record behind, so the name stays free.
    with ray_session(ws.address, cfg.py_modules):
        # Refuses a name already taken in the store, before the sweep is recorded.
        create_experiment(ws.tracking_uri, cfg.name, ws.artifact_location)
        ws.save_sweep(cfg.name, cfg.dump())
        print(f"rayprune: sweep {cfg.name!r}: {search.describe(cfg)} on {cfg.env}")
        print(f"rayprune: its runs in MLflow: {sweep_link(ws.tracking_uri, cfg.name)}")
        tuner = tune.Tuner(
            _trainable(),
            param_space=search.param_space(cfg, ws.tracking_uri, ws.storage),
            tune_config=tune.TuneConfig(
                max_concurrent_trials=cfg.max_concurrent_trials,
                trial_dirname_creator=trial_dirname,
                # On one node the next trial runs in a finished trial's process: ~0.6 s to start
                # instead of ~18 s (benchmarks/trial_startup.py). Not on a cluster: one run of
                # the two-node test under load left a node idle while reused actors took every
                # trial, and an idle node costs more than start-ups.
                reuse_actors=single_node(),
                **search.tune_options(cfg, spaces, ws.tracking_uri),
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
        return _finish(_fit(tuner, cfg, ws), cfg, ws)


def check_dense_starts(cfg: SweepConfig, ws: Workspace) -> None:
    """search.init dense from search.reference: the probes start from that sweep's dense PPO
    policies, which must fit this sweep's network and observation filter and lie in its storage."""
    name = cfg.search.reference
    if cfg.search.init != "dense" or name is None:
        return
    raw, recorded = ws.load_sweep(name)
    reference = parse_config(raw)
    for key in ("model", "normalize_observations"):
        theirs, ours = getattr(reference, key), getattr(cfg, key)
        if theirs != ours:
            raise SweepError(
                f"search.reference {name!r} trained dense PPO with {key} {theirs}, this sweep "
                f"has {ours}: init dense starts from its policies, so they must be the same"
            )
    if recorded.storage != ws.storage:
        raise SweepError(
            f"search.reference {name!r} keeps its checkpoints in {recorded.storage}, this sweep "
            f"in {ws.storage}: init dense needs both in one storage"
        )
    for seed in cfg.grid.seed:
        with trained(ws.storage, name, TrialPoint.dense(seed).slug):
            pass


def resume_sweep(name: str, ws: Workspace) -> SweepOutcome:
    """Continue an interrupted sweep: finished trials stay, the rest resume from checkpoints
    (Tune restores the searcher's state and the callbacks with them)."""
    raw, recorded = ws.load_sweep(name)  # one that is not there: said before anything is written
    ws.check_not_running(name)
    with ws.sweep_lock(name):
        return _resume(name, ws, raw, recorded)


def _resume(name: str, ws: Workspace, raw: dict, recorded: Workspace) -> SweepOutcome:
    recorded.check_store()
    cfg = parse_config(raw)
    check_artifacts_in_place(recorded, name)
    importable(cfg.py_modules)
    address = ws.address or recorded.address
    preflight(address, recorded.tracking_uri)
    path = _tune_dir(recorded, name)
    if not tune.Tuner.can_restore(str(path)):
        raise SweepError(f"no Tune state for sweep {name!r} at {path}")
    print(f"rayprune: resuming sweep {name!r} from {path}")
    with ray_session(address, cfg.py_modules):
        tuner = tune.Tuner.restore(str(path), trainable=_trainable(), resume_errored=True)
        return _finish(_fit(tuner, cfg, recorded), cfg, recorded)


def check_artifacts_in_place(ws: Workspace, name: str) -> None:
    """MLflow recorded the embedded store's artifact folder as an absolute path: resumed trials
    would write there, outside a results folder that has moved since."""
    if ws.artifact_location is None:
        return
    recorded = experiment_artifacts(ws.tracking_uri, name)
    if recorded.rstrip("/") != ws.artifact_location.rstrip("/"):
        raise SweepError(
            f"the results folder of {name!r} was moved (MLflow keeps its artifacts at "
            f"{recorded}): move it back to resume; `best` and `report` work from here"
        )


def _fit(tuner: tune.Tuner, cfg: SweepConfig, ws: Workspace):
    """Tune's results; when the driver itself fails (a full disk, say), the runs it leaves
    RUNNING are ended FAILED on the way out, as far as the store still takes writes, and the
    sweep stays resumable from Tune's last saved state."""
    try:
        return tuner.fit()
    except Exception:
        with contextlib.suppress(Exception):
            fail_unfinished_runs(ws.tracking_uri, cfg.name)
        raise


def _tune_dir(ws: Workspace, name: str) -> Path:
    return Path(ws.storage) / name


@dataclass(frozen=True)
class SweepOutcome:
    finished: int
    failed: int
    unfinished: int  # interrupted or never started: `rayprune resume` continues them
    stopped_early: int  # by the scheduler: no final eval, no compact policy
    stopped_by: int | None = None  # the signal that stopped the sweep (SIGTERM, SIGHUP)


def _finish(results, cfg: SweepConfig, ws: Workspace) -> SweepOutcome:
    stopped = end_stopped_runs(ws.tracking_uri, cfg.name)
    counts = {"finished": 0, "failed": 0, "unfinished": 0, "stopped_early": 0}
    interrupted: list[str] = []
    finished: list[Outcome] = []
    print(f"\n{'trial':<34} {'eval_return':>12} {'neurons':>8} {'weights':>8}")
    for result in results:
        point = TrialPoint.from_params(result.config["point"]) if result.config else None
        name = point.run_name if point else "(not started)"
        metrics = result.metrics or {}
        if result.error is not None:
            counts["failed"] += 1
            print(f"{name:<34} {'FAILED':>12}")
        elif names.EVAL_RETURN_MEAN in metrics:
            counts["finished"] += 1
            finished.append(
                Outcome(
                    name, point, metrics[names.EVAL_RETURN_MEAN], metrics[names.WEIGHTS_COMPACT]
                )
            )
            print(
                f"{name:<34} {metrics[names.EVAL_RETURN_MEAN]:>12.1f} "
                f"{metrics[names.NEURONS_COMPACT]:>8.0f} {metrics[names.WEIGHTS_COMPACT]:>8.0f}"
            )
        elif point and point.key(cfg.name) in stopped:
            counts["stopped_early"] += 1
            steps = metrics.get(names.ENV_STEPS, 0)
            print(f"{name:<34} {'STOPPED':>12}   early, at {steps:.0f} env steps")
        else:
            counts["unfinished"] += 1
            interrupted += [point.key(cfg.name)] if point else []
            print(f"{name:<34} {'UNFINISHED':>12}")
    # Tune creates a grid's trials as it starts them: a sweep stopped early returns fewer
    never_started = max(0, (search.trials_planned(cfg) or 0) - len(results))
    if never_started:
        counts["unfinished"] += never_started
        print(f"{never_started} more trial(s) never started")
    signum = stopped_by()
    how = f"by {signal.Signals(signum).name}" if signum else "(interrupted)"
    why = f"the sweep was stopped {how} first; `rayprune resume {cfg.name}` continues it"
    end_interrupted_runs(ws.tracking_uri, cfg.name, interrupted, why)
    fail_unfinished_runs(ws.tracking_uri, cfg.name)  # what is left RUNNING: a dead trial's
    log_ranks(ws.tracking_uri, cfg.name)
    if cfg.search.kind == "frontier":
        conclude(results, cfg, ws.tracking_uri)
    if cfg.search.kind == "optuna":
        front = pareto_front(finished)
        if front:
            log_front(front, ws.tracking_uri, cfg.name)
        print_front(front, len(finished))
    print(
        f"\nResults of {cfg.name!r}:\n"
        f"  MLflow runs:  {ws.tracking_uri} (experiment {cfg.name!r}); browse with "
        f"{_browse(ws)}\n"
        f"                {sweep_link(ws.tracking_uri, cfg.name)}\n"
        f"  Tune state:   {_tune_dir(ws, cfg.name)}\n"
        f"  best policy:  `rayprune best {cfg.name} --out ./best_policy`"
    )
    return SweepOutcome(**counts, stopped_by=signum)


def _browse(ws: Workspace) -> str:
    """How to reach the runs page: the tracking server serves it, an embedded store needs
    `rayprune ui`."""
    return "its server" if ws.tracking_uri.startswith("http") else "`rayprune ui`, then open"


def print_front(front: list[Outcome], of: int) -> None:
    print(
        f"\nPareto front ({names.EVAL_RETURN_MEAN} up, {names.WEIGHTS_COMPACT} down): "
        f"{len(front)} of {of} finished trials\n"
        f"{'trial':<34} {'eval_return':>12} {'weights':>8} {'method':>8} {'lambda':>10} "
        f"{'sparsity':>8} {'seed':>5}"
    )
    for o in front:
        p = o.point
        print(
            f"{o.trial:<34} {o.eval_return_mean:>12.1f} {o.weights_compact:>8.0f} "
            f"{p.method:>8} {p.lam:>10.3g} {p.sparsity_target:>8g} {p.seed:>5}"
        )
    if front:
        print(f"  logged to MLflow: run {SUMMARY!r}, artifacts {SUMMARY}.json and {SUMMARY}.csv")

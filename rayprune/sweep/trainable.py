"""One Tune trial: train PPO with pruning, checkpoint, track in MLflow, export the compact policy."""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

from rayprune import names
from rayprune.errors import RaypruneError, TrialDiverged
from rayprune.policy import (
    ARTIFACT_DIR,
    OnnxPolicy,
    PolicyInfo,
    StagedPolicy,
    check_env,
    describe_policy,
    eval_seed,
    evaluate,
)
from rayprune.pruning import deployable
from rayprune.rllib import (
    actor_of,
    build_ppo_config,
    frozen_normalization,
    pruning_metrics,
    restore_algorithm,
    start_from_trained,
    training_loss,
)
from rayprune.rllib.compat import algorithm_logs_here
from rayprune.store.model import add_model
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import TrialRun, finished_metrics, flatten
from rayprune.sweep.checkpoints import (
    ALGO_DIR,
    CorruptCheckpoint,
    TrialState,
    read_state,
    trained,
    usable,
    write_state,
)
from rayprune.sweep.config import SweepConfig
from rayprune.sweep.config.specs import (
    budget_for,
    env_spec,
    network_for,
    spec_for,
    starts_from_dense,
)


def iteration_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The per-iteration curve logged to MLflow and Tune, from RLlib's nested result."""
    return {
        names.EPISODE_RETURN_MEAN: float(
            result["env_runners"].get(names.EPISODE_RETURN_MEAN, float("nan"))
        ),
        names.ENV_STEPS: float(result["num_env_steps_sampled_lifetime"]),
        **pruning_metrics(result),
    }


def trial_params(cfg: SweepConfig, point: TrialPoint) -> dict[str, Any]:
    """Every hyperparameter of the trial as one MLflow param: the sweep's settings and its
    point. Settings of a part the sweep does not use are left out: a grid has no NSGA-II
    population, a sweep without a scheduler no rungs; only their `kind` says so."""
    settings = {k: v for k, v in cfg.dump().items() if k != "grid"}
    for part, unused in (("search", "grid"), ("scheduler", "none")):
        if settings[part]["kind"] == unused:
            settings[part] = {"kind": unused}
    return {**flatten("", settings), **point.to_params()}


def train_trial(config: dict[str, Any]) -> None:
    """Tune function trainable. config: {"sweep": SweepConfig dump, "tracking_uri", "storage",
    "point": TrialPoint.to_params()}."""
    cfg = SweepConfig.model_validate(config["sweep"])
    point = TrialPoint.from_params(config["point"])
    key = point.key(cfg.name)
    # Relaunched after it had finished (a driver killed before Tune recorded the end): its run is
    # complete, leave it be.
    final = _final_result(tune.get_checkpoint()) or finished_metrics(
        config["tracking_uri"], cfg.name, key, names.FINAL_METRICS
    )
    if final is not None:
        tune.report(final)
        return
    run = TrialRun.open(
        config["tracking_uri"], cfg.name, key, point.run_name, trial_params(cfg, point),
        point.description(cfg.name, cfg.env, ARTIFACT_DIR),
    )  # fmt: skip
    run.tag_node(ray.get_runtime_context().get_node_id())
    try:
        _train(cfg, point, run, config["storage"])
    except BaseException as err:
        run.finish("FAILED", reason=failure_reason(err))
        raise
    run.finish("FINISHED")


# An exception's line in a traceback's text: `module.CamelName: message`, unindented (its frames
# are indented); Ray's own wrappers (ray.exceptions.RayTaskError(...)) are not the cause.
_EXCEPTION_LINE = re.compile(r"^(?!ray\.)((?:[a-z_]\w*\.)*[A-Z]\w*): (\S.*)$")


def failure_reason(err: BaseException) -> str:
    """What made a trial fail, on one line, `Type: message` of the root cause: RLlib re-raises
    the user's exception as a bare RuntimeError from it, Ray carries a remote one as
    RayTaskError.cause, or only as text in an ActorDiedError's message. A rayprune error on
    the way is the one to tell (it says what to fix); the chain's end otherwise, following
    __cause__, Ray's cause, and __context__ where an exception says nothing of its own."""
    cause = _root_cause(err)
    message = str(cause).strip()
    if isinstance(cause, ray.exceptions.RayError) or "Traceback (most recent call last)" in message:
        found = _exception_line(message)
        if found:
            return found
    if message:
        return f"{type(cause).__name__}: {message.splitlines()[0]}"
    lines = [line for line in _traceback_text(err).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(cause).__name__


def _root_cause(err: BaseException) -> BaseException:
    seen = {id(err)}
    while not isinstance(err, RaypruneError):
        inner = (
            getattr(err, "cause", None) if isinstance(err, ray.exceptions.RayTaskError) else None
        )
        if not isinstance(inner, BaseException):
            inner = err.__cause__
        if inner is None and not err.__suppress_context__ and not str(err).strip():
            inner = err.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        err = inner
    return err


def _exception_line(text: str) -> str | None:
    """The first exception's line in a traceback's text: its root cause (Python prints a
    chain's causes first)."""
    for line in text.splitlines():
        found = _EXCEPTION_LINE.match(line.rstrip())
        if found:
            return f"{found.group(1).rpartition('.')[2]}: {found.group(2)}"
    return None


def _traceback_text(err: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(err))


def _train(cfg: SweepConfig, point: TrialPoint, run: TrialRun, storage: str) -> None:
    algo = _build(cfg, point)
    try:
        env_steps = _restore(algo, run)
        if env_steps == 0 and starts_from_dense(cfg, point):
            _start_from_dense(algo, cfg, point, storage, run)
        _loop(algo, cfg, run, env_steps, budget_for(cfg, point))
        final = _export_and_evaluate(algo, cfg, point, run)
    finally:
        algo.stop()
    _report(final, TrialState(final=final))


def _restore(algo, run: TrialRun) -> float:
    """Restore the newest readable checkpoint; the env steps it holds (0: start over)."""
    with usable(tune.get_checkpoint()) as found:
        if found.skipped:
            where = f"resumed from {found.folder.name}" if found.folder else "started over"
            run.tag_recovery(f"{found.skipped[0]}; {where}")
        if found.folder is not None:
            restore_algorithm(algo, found.folder / ALGO_DIR)
        return found.state.env_steps


def _start_from_dense(
    algo, cfg: SweepConfig, point: TrialPoint, storage: str, run: TrialRun
) -> None:
    """search.init dense: start from the policy dense PPO trained on this seed, in this sweep
    or in search.reference's."""
    dense = TrialPoint.dense(point.seed)
    sweep = cfg.search.reference or cfg.name
    with trained(storage, sweep, dense.slug) as folder:
        start_from_trained(algo, folder / ALGO_DIR)
    run.tag_started_from(sweep, dense.run_name, dense.key(sweep))


def _final_result(checkpoint: tune.Checkpoint | None) -> dict[str, Any] | None:
    """The final metrics of a trial whose checkpoint says it finished (None when it did not, or
    when the checkpoint is unreadable: MLflow's record of the run decides then)."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        try:
            return read_state(Path(d), must_hold_algorithm=False).final
        except CorruptCheckpoint:
            return None


def _build(cfg: SweepConfig, point: TrialPoint):
    algorithm_logs_here()
    return build_ppo_config(
        env=env_spec(cfg),
        seed=point.seed,
        ppo=cfg.ppo.model_dump(),
        network=network_for(cfg, point),
        pruning=spec_for(cfg, point),
        num_envs_per_env_runner=cfg.num_envs_per_env_runner,
        api_stack=cfg.api_stack,
        normalize_observations=cfg.normalize_observations,
    ).build_algo()


def _loop(algo, cfg: SweepConfig, run: TrialRun, env_steps: float, budget: int) -> None:
    """Train to `budget` env steps from `env_steps` (where the checkpoint left off: one that
    already reached it only needs its export). Metrics reach MLflow with each checkpoint."""
    pending: list[tuple[int, dict[str, float]]] = []
    while env_steps < budget:
        result = algo.train()
        row = iteration_metrics(result)
        step = int(result["training_iteration"])
        check_finite(step, training_loss(result), row[names.REGULARIZER])
        pending.append((step, row))
        env_steps = row[names.ENV_STEPS]
        if env_steps >= budget or step % cfg.checkpoint_every == 0:
            run.log_curve(pending)
            pending = []
            _report(row, TrialState(env_steps=env_steps, iteration=step), algo)
        else:
            tune.report(row)


def check_finite(step: int, loss: float, regularizer: float) -> None:
    """A NaN or infinite loss poisons every later update: stop here, with the reason."""
    if not (math.isfinite(loss) and math.isfinite(regularizer)):
        raise TrialDiverged(
            f"training diverged at iteration {step}: loss {loss}, regularizer {regularizer} "
            "(lower ppo.lr or lambda)"
        )


def _report(metrics: dict[str, Any], state: TrialState, algo=None) -> None:
    with tempfile.TemporaryDirectory() as d:
        if algo is not None:
            algo.save_to_path(str(Path(d) / ALGO_DIR))
        write_state(Path(d), state)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def _export_and_evaluate(
    algo, cfg: SweepConfig, point: TrialPoint, run: TrialRun
) -> dict[str, float]:
    """Compact the actor, stage its graph, evaluate the staged ONNX graph (what ships is what
    is measured), publish the folder with its compression.json and log it to the trial's run."""
    actor = actor_of(algo).cpu()
    spec = spec_for(cfg, point)
    net = deployable(actor, spec)
    env = env_spec(cfg)
    spaces = check_env(env)
    normalization = frozen_normalization(algo)
    with tempfile.TemporaryDirectory() as d:
        with StagedPolicy(net, Path(d) / ARTIFACT_DIR, spaces, normalization) as staged:
            policy = OnnxPolicy(staged.folder, spaces)
            result = evaluate(policy, env, cfg.eval_episodes, seed=eval_seed(point.seed))
            info = describe_policy(actor, net, spec, env, spaces, result, normalization)
            folder = staged.publish(info)
        add_model(folder)  # the folder that is logged, registered and downloaded is a Model
        run.log_artifacts(folder, ARTIFACT_DIR)
    final = final_metrics(info)
    run.log_final(final)
    return final


def final_metrics(info: PolicyInfo) -> dict[str, float]:
    """The values logged once at the end, read from what the policy folder records."""
    values = {
        names.EVAL_RETURN_MEAN: info.eval_return_mean,
        names.EVAL_RETURN_STD: info.eval_return_std,
        names.TARGET_REACHED: info.target_reached,
        names.WEIGHTS_COMPACT: info.weights_compact,
        names.NEURONS_COMPACT: info.neurons_compact,
        names.FLOPS_COMPACT: info.flops_compact,
        names.WEIGHTS_REMOVED: info.weights_removed,
        names.COMPRESSION_RATIO: info.compression_ratio,
    }
    return {name: float(values[name]) for name in names.FINAL_METRICS}

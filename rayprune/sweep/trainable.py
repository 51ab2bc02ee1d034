"""One Tune trial: train PPO with pruning, checkpoint, track in MLflow, export the compact policy."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

from rayprune.policy import ARTIFACT_DIR, OnnxPolicy, check_env, evaluate, export_compact_policy
from rayprune.policy.artifact import write_info
from rayprune.pruning import (
    METHODS,
    CompactMLP,
    MaskedMLP,
    PruningSpec,
    dead_neurons,
    dense_size_of,
    deployable,
    reached_target,
    size_of,
    size_of_compact,
)
from rayprune.rllib import (
    actor_of,
    build_ppo_config,
    pruning_metrics,
    restore_algorithm,
    spec_from_dict,
)
from rayprune.sweep.config import SweepConfig, run_name, trial_key
from rayprune.sweep.tracking import TrialRun, finished_metrics, flatten

STATE_FILE = "rayprune_state.json"
# The shipped policy's size, logged with the final eval (comparable across methods).
FINAL_SIZE_KEYS = ("weights_compact", "neurons_compact", "flops_compact", "compression_ratio")
FINAL_KEYS = ("eval_return_mean", "eval_return_std", "target_reached", *FINAL_SIZE_KEYS)
ALGO_DIR = "algorithm"
LEARNER_KEYS = (
    "neurons",
    "weights",
    "flops",
    "sparsity",
    "weight_sparsity",
    "neurons_dead",
    "sparsity_target_now",
    "threshold",
    "regularizer",
)


def pruning_dict(cfg: SweepConfig, point: dict[str, Any]) -> dict[str, Any]:
    """The Learner's PruningSpec, in plain types."""
    p = cfg.pruning
    spec: dict[str, Any] = {
        "method": point["method"],
        "lambda_": point["lambda"],
        "reading": p.reading,
        "scope": p.scope,
        "min_neurons": p.min_neurons,
        "seed": point["seed"],
        "weight_threshold": p.weight_threshold,
        "distill_coeff": p.distill_coeff,
        "lowrank_energy": p.lowrank_energy,
    }
    if METHODS[point["method"]].importance is not None:
        spec["schedule"] = {
            "sparsity_target": point["sparsity_target"],
            "initial_sparsity": p.initial_sparsity,
            "start_iter": p.start_iter,
            "end_iter": p.end_iter,
            "frequency": p.frequency,
        }
    return spec


def model_dict(cfg: SweepConfig, point: dict[str, Any]) -> dict[str, Any]:
    """The actor's and critic's shapes, plus what the method needs built into the actor: L0's
    gates, dropout, PoPS's teacher."""
    prunes = METHODS[point["method"]].importance is not None
    return {
        **cfg.model.model_dump(),
        "gates": cfg.pruning.gates if point["method"] == "l0" else None,
        "dropout_rate": cfg.pruning.dropout_rate,
        "distill": prunes and cfg.pruning.distill_coeff > 0,
    }


def iteration_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The per-iteration curve logged to MLflow and Tune, from RLlib's nested result."""
    learner = pruning_metrics(result)
    row = {
        "episode_return_mean": result["env_runners"].get("episode_return_mean", float("nan")),
        "env_steps": result["num_env_steps_sampled_lifetime"],
        **{key: learner[key] for key in LEARNER_KEYS},
        **{key: value for key, value in learner.items() if key.startswith("neurons_l")},
    }
    return {k: float(v) for k, v in row.items()}


def train_trial(config: dict[str, Any]) -> None:
    """Tune function trainable. config: {"sweep": SweepConfig dump, "tracking_uri", "point"}."""
    cfg = SweepConfig.model_validate(config["sweep"])
    point = config["point"]
    params = {**flatten("", {k: v for k, v in cfg.dump().items() if k != "grid"}), **point}
    key = trial_key(cfg.name, point)
    # Relaunched after it had finished (a driver killed before Tune recorded the end): its run is
    # complete, leave it be.
    final = _final_result(tune.get_checkpoint()) or finished_metrics(
        config["tracking_uri"], cfg.name, key, FINAL_KEYS
    )
    if final is not None:
        tune.report(final)
        return
    run = TrialRun.open(config["tracking_uri"], cfg.name, key, run_name(point), params)
    run.tag_node(ray.get_runtime_context().get_node_id())
    try:
        _train(cfg, point, run)
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")


def _train(cfg: SweepConfig, point: dict[str, Any], run: TrialRun) -> None:
    algo = _build(cfg, point)
    env_steps = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            restore_algorithm(algo, Path(d) / ALGO_DIR)
            state = json.loads((Path(d) / STATE_FILE).read_text())
            env_steps = state.get("env_steps", 0)  # older checkpoints lack it: train on
    try:
        _loop(algo, cfg, run, env_steps)
        final = _export_and_evaluate(algo, cfg, point, run)
    finally:
        algo.stop()
    _report(final, {"final": final})


def _final_result(checkpoint: tune.Checkpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        return json.loads((Path(d) / STATE_FILE).read_text()).get("final")


def _build(cfg: SweepConfig, point: dict[str, Any]):
    return build_ppo_config(
        env=cfg.env,
        seed=point["seed"],
        ppo=cfg.ppo.model_dump(),
        model=model_dict(cfg, point),
        pruning=pruning_dict(cfg, point),
        num_envs_per_env_runner=cfg.num_envs_per_env_runner,
        api_stack=cfg.api_stack,
    ).build_algo()


def _loop(algo, cfg: SweepConfig, run: TrialRun, env_steps: float) -> None:
    """Train to the budget from `env_steps` (where the checkpoint left off: one that already
    reached it only needs its export). Metrics reach MLflow with each checkpoint."""
    pending: list[tuple[int, dict[str, float]]] = []
    while env_steps < cfg.budget_env_steps:
        result = algo.train()
        row = iteration_metrics(result)
        step = int(result["training_iteration"])
        pending.append((step, row))
        env_steps = row["env_steps"]
        if env_steps >= cfg.budget_env_steps or step % cfg.checkpoint_every == 0:
            run.log_curve(pending)
            pending = []
            _report(row, {"iteration": step, "env_steps": env_steps}, algo)
        else:
            tune.report(row)


def _report(metrics: dict[str, Any], state: dict[str, Any], algo=None) -> None:
    with tempfile.TemporaryDirectory() as d:
        if algo is not None:
            algo.save_to_path(str(Path(d) / ALGO_DIR))
        (Path(d) / STATE_FILE).write_text(json.dumps(state))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def _export_and_evaluate(
    algo, cfg: SweepConfig, point: dict[str, Any], run: TrialRun
) -> dict[str, Any]:
    """Compact the actor, export it, evaluate the exported ONNX graph (what ships is what is
    measured), and log the folder to the trial's run."""
    actor = actor_of(algo).cpu()
    spec = spec_from_dict(pruning_dict(cfg, point))
    net = deployable(actor, spec)
    info = compression_info(cfg, point, actor, spec, net)
    with tempfile.TemporaryDirectory() as d:
        folder = export_compact_policy(net, Path(d) / ARTIFACT_DIR, info)
        seed = 10_000 + 1_000 * point["seed"]  # episodes the agent never trained on
        result = evaluate(OnnxPolicy(folder), cfg.env, cfg.eval_episodes, seed=seed)
        info.update(eval_return_mean=result.mean, eval_return_std=result.std)
        write_info(folder, info)
        run.log_artifacts(folder, ARTIFACT_DIR)
    final = {
        "eval_return_mean": result.mean,
        "eval_return_std": result.std,
        "target_reached": float(info["target_reached"]),
        **{key: float(info[key]) for key in FINAL_SIZE_KEYS},
    }
    run.log_steps([(int(algo.iteration), final)])
    return final


def compression_info(
    cfg: SweepConfig, point: dict[str, Any], actor: MaskedMLP, spec: PruningSpec, net: CompactMLP
) -> dict[str, Any]:
    """compression.json before evaluation (eval_return_* are filled in afterwards). Sizes are
    those of `net`, the network that ships; for low-rank methods, params_before_lowrank is the
    compact network's weight count before the SVD."""
    dense = dense_size_of(actor)
    size = size_of_compact(net)
    full_rank = size_of(actor)
    obs_dim, action_space = check_env(cfg.env)
    info = {
        "env": cfg.env,
        "method": point["method"],
        "lambda": point["lambda"],
        "sparsity_target": point["sparsity_target"],
        "sparsity_unit": spec.unit(actor),
        "reading": cfg.pruning.reading,
        "scope": cfg.pruning.scope,
        "seed": point["seed"],
        "obs_dim": obs_dim,
        "action_space": action_space,
        "activation": net.activation,
        "hidden_dense": dense.neurons_per_layer,
        "hidden_compact": size.neurons_per_layer,
        "ranks": net.ranks,
        "neurons_dense": dense.neurons,
        "neurons_compact": size.neurons,
        "neurons_dead": dead_neurons(actor, full_rank),
        "weights_dense": dense.weights,
        "weights_compact": size.weights,
        "flops_dense": dense.flops,
        "flops_compact": size.flops,
        "sparsity": size.sparsity(dense),
        "weight_sparsity": 1.0 - full_rank.weights / dense.weights,
        "compression_ratio": 1.0 - size.weights / dense.weights,
        "target_reached": reached_target(actor, spec),
        "eval_return_mean": None,
        "eval_return_std": None,
        "eval_episodes": cfg.eval_episodes,
    }
    if spec.lowrank:
        info.update(
            params_before_lowrank=full_rank.weights,
            params_after_lowrank=size.weights,
            lowrank_energy=spec.lowrank_energy,
        )
    return info

"""PPOConfig for one trial, and a restore that leaves the EnvRunners holding the restored masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayprune.rllib.learner import CONFIG_KEY, PruningPPOLearner
from rayprune.rllib.module import MaskedPPOModule

# rayprune's names for PPO settings that RLlib spells differently; `lambda` is the regularizer's.
PPO_RENAMES = {"gae_lambda": "lambda_", "train_batch_size": "train_batch_size_per_learner"}


def build_ppo_config(
    *,
    env: str,
    seed: int,
    ppo: dict[str, Any],
    model: dict[str, Any],
    pruning: dict[str, Any],
    num_envs_per_env_runner: int = 1,
) -> PPOConfig:
    """Sampling and learning run in the trial's own process: one CPU per trial."""
    training = {PPO_RENAMES.get(key, key): value for key, value in ppo.items()}
    return (
        PPOConfig()
        .environment(env)
        .framework("torch")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=num_envs_per_env_runner)
        .learners(
            num_learners=0,
            learner_class=PruningPPOLearner,
            learner_config_dict={CONFIG_KEY: pruning},
        )
        .rl_module(rl_module_spec=RLModuleSpec(module_class=MaskedPPOModule, model_config=model))
        .training(**training)
        .debugging(seed=seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def restore_algorithm(algo: Algorithm, path: Path) -> None:
    """Restore, then push the learner's weights and masks to every EnvRunner and wait.

    A sync can be dropped right after a restore (FACTS.md), leaving samplers on fresh weights
    until the next iteration.
    """
    algo.restore_from_path(str(path))
    algo.env_runner_group.sync_weights(
        from_worker_or_learner_group=algo.learner_group,
        inference_only=True,
        timeout_seconds=30,
    )


def sampler_module(algo: Algorithm) -> MaskedPPOModule:
    """The module the local EnvRunner samples with."""
    return algo.env_runner.module.unwrapped()


def learner_module(algo: Algorithm) -> MaskedPPOModule:
    return algo.learner_group._learner.module["default_policy"].unwrapped()

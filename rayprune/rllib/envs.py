"""The user's environment inside RLlib: one registered creator that every EnvRunner, on every
node, builds from the EnvSpec carried in env_config; and RLlib's observation filter, whose
frozen statistics the exported policy applies itself."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.utils.filter import RunningStat
from ray.tune.registry import register_env

from rayprune.policy import EnvSpec, ObsNormalization, as_spec, flat_observations
from rayprune.rllib.sampling import env_to_module, module_to_env

ENV_NAME = "rayprune_env"
ID_KEY = "id"
FILTER_NAME = "MeanStdFilter"  # RLlib's name for the connector, the old stack's filter


def training_env(env_config: dict[str, Any]) -> gym.Env:
    """The environment as the actor trains on it: the user's, observations flattened."""
    settings = dict(env_config)
    return flat_observations(EnvSpec.of(settings.pop(ID_KEY), settings).make())


def with_environment(
    config: PPOConfig, env: EnvSpec, normalize: bool, old_stack: bool
) -> PPOConfig:
    """`config` building `env` in every EnvRunner (Ray's registry ships the creator to every
    worker) and, with `normalize`, filtering observations with RLlib's MeanStdFilter, whose
    state checkpoints and EnvRunner syncs carry."""
    env = as_spec(env)
    register_env(ENV_NAME, training_env)
    # Box actions reach the env clipped to its bounds, as the exported policy clips its means,
    # not rescaled from [-1, 1] (RLlib's default, which the export would have to mirror)
    config = config.environment(
        ENV_NAME,
        env_config={ID_KEY: env.id, **env.settings()},
        normalize_actions=False,
        clip_actions=True,
    )
    if old_stack:
        return config.env_runners(observation_filter=FILTER_NAME) if normalize else config
    return config.env_runners(
        env_to_module_connector=env_to_module(normalize),
        module_to_env_connector=module_to_env,
        add_default_connectors_to_env_to_module_pipeline=False,
        add_default_connectors_to_module_to_env_pipeline=False,
    )


def frozen_normalization(algo: Algorithm) -> ObsNormalization | None:
    """The local EnvRunner's filter statistics (where remote EnvRunners' are merged after each
    iteration), frozen; None when observations are not normalized."""
    if not algo.config.enable_rl_module_and_learner:
        found = algo.env_runner.filters.get("default_policy")
        if found is None or not hasattr(found, "running_stats"):
            return None
        stats, clip = found.running_stats, found.clip
    else:
        state = algo.env_runner.get_state(components="env_to_module_connector")
        filters = state.get("env_to_module_connector", {}).get(FILTER_NAME)
        if not filters:
            return None
        (agent,) = filters.values()
        stats, clip = RunningStat.from_state(agent["running_stats"][0]), agent["clip_by_value"]
    return ObsNormalization(
        tuple(stats.mean.astype(float).ravel()), tuple(stats.std.astype(float).ravel()), clip=clip
    )

"""PPOConfig for one trial on either RLlib API stack, and the stack-independent accessors the
trainable needs: restore, the trained actor, the pruning metrics of a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import (
    COMPONENT_ENV_RUNNER,
    COMPONENT_ENV_TO_MODULE_CONNECTOR,
    COMPONENT_LEARNER,
    COMPONENT_LEARNER_GROUP,
    COMPONENT_RL_MODULE,
    DEFAULT_MODULE_ID,
)
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from rayprune.policy import EnvSpec
from rayprune.pruning import IterationMetrics, MaskedMLP, PruningSpec
from rayprune.rllib.compat import local_learner
from rayprune.rllib.envs import with_environment
from rayprune.rllib.learner import CONFIG_KEY, PruningPPOLearner
from rayprune.rllib.module import ActorCriticSpec, MaskedPPOModule
from rayprune.rllib.old_stack import METRICS_KEY, MODEL_NAME, OldStackPPO, register

# rayprune's names for PPO settings that RLlib spells differently (RLlib's `lambda_` is GAE's).
PPO_RENAMES = {"gae_lambda": "lambda_", "train_batch_size": "train_batch_size_per_learner"}
# The old stack has no learners, so no per-learner batch size.
OLD_PPO_RENAMES = {"gae_lambda": "lambda_"}


def build_ppo_config(
    *,
    env: EnvSpec | str,
    seed: int,
    ppo: dict[str, Any],
    network: ActorCriticSpec,
    pruning: PruningSpec,
    num_envs_per_env_runner: int = 1,
    api_stack: Literal["new", "old"] = "new",
    num_env_runners: int = 0,
    normalize_observations: bool = False,
) -> PPOConfig:
    """`ppo`: PPO's training settings under rayprune's names (PPO_RENAMES). By default sampling
    and learning run in the trial's own process: one CPU per trial."""
    if api_stack == "old":
        register()
        training = {OLD_PPO_RENAMES.get(key, key): value for key, value in ppo.items()}
        config = (
            PPOConfig(algo_class=OldStackPPO)
            .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
            .training(
                model={
                    "custom_model": MODEL_NAME,
                    "custom_model_config": {**network.to_dict(), "pruning": pruning.to_dict()},
                },
                **training,
            )
        )
    else:
        training = {PPO_RENAMES.get(key, key): value for key, value in ppo.items()}
        config = (
            PPOConfig()
            .learners(
                num_learners=0,
                learner_class=PruningPPOLearner,
                learner_config_dict={CONFIG_KEY: pruning.to_dict()},
            )
            .rl_module(
                rl_module_spec=RLModuleSpec(
                    module_class=MaskedPPOModule, model_config=network.to_dict()
                )
            )
            .training(**training)
        )
    config = with_environment(config, env, normalize_observations, api_stack == "old")
    return (
        config.framework("torch")
        .env_runners(
            num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner
        )
        .debugging(seed=seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def is_old_stack(algo: Algorithm) -> bool:
    return not algo.config.enable_rl_module_and_learner


def restore_algorithm(algo: Algorithm, path: Path) -> None:
    """Restore, and make sure every EnvRunner samples with the restored weights and masks.

    New stack: a remote EnvRunner kept its fresh weights after a restore in 4 of 7 tries (a sync
    request dropped while another was in flight; tests/integration/test_rllib.py), so push the
    learner's weights again and wait. Old stack:
    the restore itself sets the state on every rollout worker and waits.
    """
    algo.restore_from_path(str(path))
    if not is_old_stack(algo):
        algo.env_runner_group.sync_weights(
            from_worker_or_learner_group=algo.learner_group,
            inference_only=True,
            timeout_seconds=30,
        )


def start_from_trained(algo: Algorithm, path: Path) -> None:
    """Start from the policy another trial trained (`path`: its saved algorithm, new stack):
    its weights and its observation filter's statistics. The optimizer, the masks and the
    pruning schedule start afresh."""
    module_dir = COMPONENT_LEARNER_GROUP, COMPONENT_LEARNER, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
    trained = RLModule.from_checkpoint(str(Path(path, *module_dir)))
    learner_module(algo).start_from(trained)
    # trials sample in their own process (no remote EnvRunners): the local one holds the filter
    connector = Path(path, COMPONENT_ENV_RUNNER, COMPONENT_ENV_TO_MODULE_CONNECTOR)
    algo.env_runner.restore_from_path(str(connector), component=COMPONENT_ENV_TO_MODULE_CONNECTOR)
    algo.env_runner_group.sync_weights(
        from_worker_or_learner_group=algo.learner_group, inference_only=True, timeout_seconds=30
    )


def actor_of(algo: Algorithm) -> MaskedMLP:
    """The actor being trained (the learner's, not a sampler's copy), on either stack."""
    if is_old_stack(algo):
        return algo.get_policy().model.actor
    return learner_module(algo).actor


def pruning_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The default policy's pruning metrics (IterationMetrics.to_row()) of a train() result,
    on either stack."""
    if "learners" in result:
        logged = result["learners"]["default_policy"]
    else:
        logged = result["info"]["learner"]["default_policy"][METRICS_KEY]
    return IterationMetrics.row_from(logged)


def training_loss(result: dict[str, Any]) -> float:
    """PPO's total loss (without the regularizer) in a train() result, on either stack."""
    if "learners" in result:
        return float(result["learners"]["default_policy"]["total_loss"])
    return float(result["info"]["learner"]["default_policy"]["learner_stats"]["total_loss"])


def sampler_module(algo: Algorithm) -> MaskedPPOModule:
    """The module the local EnvRunner samples with."""
    return algo.env_runner.module.unwrapped()


def learner_module(algo: Algorithm) -> MaskedPPOModule:
    return local_learner(algo).module["default_policy"].unwrapped()

"""RLlib's old API stack (ModelV2 + Policy + RolloutWorker) with the new stack's masked actor,
dense critic, penalty, schedule and metrics. Selected by build_ppo_config(api_stack="old")."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.ppo import PPO
from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
from ray.rllib.models import ModelCatalog
from ray.rllib.models.modelv2 import ModelV2
from ray.rllib.models.torch.torch_modelv2 import TorchModelV2
from ray.rllib.policy.torch_policy_v2 import TorchPolicyV2
from ray.rllib.utils.annotations import override
from torch import nn

from rayprune.errors import SpecError
from rayprune.pruning import PruningSpec
from rayprune.rllib.iteration import prune_and_measure
from rayprune.rllib.module import ActorCriticSpec, MaskedActorCritic

MODEL_NAME = "rayprune_masked_ppo"
# Where the pruning metrics sit in a train() result: result["info"]["learner"][policy][KEY].
METRICS_KEY = "rayprune"


class MaskedPPOModelV2(TorchModelV2, MaskedActorCritic):
    """The old stack's ModelV2 around MaskedActorCritic. custom_model_config:
    ActorCriticSpec.to_dict() plus `pruning` (PruningSpec.to_dict()). `prune_step`, a persistent
    buffer, travels with the masks in policy state, checkpoints and the sync to rollout workers.
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_outputs: int,
        model_config: dict[str, Any],
        name: str,
        *,
        pruning: dict[str, Any],
        **network: Any,
    ) -> None:
        spec = ActorCriticSpec.from_dict(network)
        if spec.distill:
            raise SpecError("distillation (pruning.distill_coeff > 0) needs api_stack: new")
        TorchModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        nn.Module.__init__(self)
        self.spec = PruningSpec.from_dict(pruning)
        self.build_networks(obs_space, action_space, spec, critic=True)
        self._obs: torch.Tensor | None = None

    @override(ModelV2)
    def forward(
        self, input_dict: dict[str, Any], state: list[Any], seq_lens: Any
    ) -> tuple[torch.Tensor, list[Any]]:
        self._obs = input_dict["obs_flat"].float()
        # Training-time behaviour (stochastic) in the loss's forward pass only. The mode tells
        # it: TorchPolicyV2 calls model.train() to learn and model.eval() to act. The batch's
        # is_training flag does not: ModelV2.__call__ copies the batch without it (RLlib 2.60).
        return self.action_dist_inputs(self._obs, stochastic=self.training), state

    @override(ModelV2)
    def value_function(self) -> torch.Tensor:
        return self.value(self._obs)

    @override(ModelV2)
    def custom_loss(
        self, policy_loss: list[torch.Tensor], loss_inputs: dict[str, Any]
    ) -> list[torch.Tensor]:
        """RLlib calls this on every minibatch with PPO's loss: add lambda * penalty."""
        regularizer = self.spec.regularizer(self.actor)
        return policy_loss if regularizer is None else [loss + regularizer for loss in policy_loss]

    def prune(self) -> dict[str, float]:
        self.prune_step += 1
        return prune_and_measure(self.actor, self.spec, int(self.prune_step)).to_row()


class PruningPPOTorchPolicy(PPOTorchPolicy):
    """Prunes its model once per training iteration, right after the iteration's last SGD step.

    Old-stack PPO.training_step trains through multi_gpu_train_one_step: one
    load_batch_into_buffer, then num_epochs x (loaded // minibatch_size) learn_on_loaded_batch
    calls, and only then syncs weights to the rollout workers. Pruning after the last of those
    calls puts the new masks into that same sync; an on_train_result callback would run after
    the sync, one iteration late.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._updates_left = 0
        self.pruning_metrics: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    @override(TorchPolicyV2)
    def load_batch_into_buffer(self, batch, buffer_index: int = 0) -> int:
        if self._updates_left:
            raise RuntimeError(
                f"{self._updates_left} SGD steps of the last iteration never ran: RLlib's "
                "training loop no longer matches the pruning hook"
            )
        loaded = super().load_batch_into_buffer(batch, buffer_index)
        per_device = self.config["minibatch_size"] // len(self.devices)
        self._updates_left = self.config["num_epochs"] * max(1, loaded // per_device)
        return loaded

    @override(TorchPolicyV2)
    def learn_on_loaded_batch(self, offset: int = 0, buffer_index: int = 0):
        fetches = super().learn_on_loaded_batch(offset, buffer_index)
        self._updates_left -= 1
        if self._updates_left == 0:
            self.pruning_metrics = self.model.prune()
        return fetches


class OldStackPPO(PPO):
    """PPO on the old stack with the pruning policy. It reports the pruning metrics with the
    learner info and saves/restores through the same calls as a new-stack Algorithm."""

    @classmethod
    @override(PPO)
    def get_default_policy_class(cls, config) -> type[PruningPPOTorchPolicy]:
        return PruningPPOTorchPolicy

    @override(PPO)
    def training_step(self) -> dict[str, Any]:
        results = super().training_step()
        for policy_id, info in results.items():
            info[METRICS_KEY] = self.get_policy(policy_id).pruning_metrics
        return results

    @override(PPO)
    def save_to_path(self, path: str) -> str:
        """The old stack has no get_state(), which Checkpointable.save_to_path needs: write the
        Trainable checkpoint (algorithm_state.pkl + policies/) instead."""
        os.makedirs(path, exist_ok=True)
        self.save_checkpoint(path)
        return path

    @override(PPO)
    def restore_from_path(self, path: str) -> None:
        """Loads the local worker's state and sets it on every remote rollout worker,
        waiting for each (Algorithm.__setstate__)."""
        self.load_checkpoint(path)


def register() -> None:
    """Name the model for custom_model; Ray's registry ships it to every worker."""
    ModelCatalog.register_custom_model(MODEL_NAME, MaskedPPOModelV2)

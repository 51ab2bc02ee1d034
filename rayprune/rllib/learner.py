"""The PPO Learner hook: regularizer in the loss, masks updated once per training iteration."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

from rayprune.pruning import PruningSchedule, PruningSpec, dense_size_of, prune, size_of
from rayprune.rllib.module import MaskedPPOModule

CONFIG_KEY = "rayprune"


def spec_from_dict(raw: dict[str, Any]) -> PruningSpec:
    """The learner_config_dict form of a PruningSpec (plain types, so Ray can ship it)."""
    schedule = raw.get("schedule")
    return PruningSpec(**{**raw, "schedule": PruningSchedule(**schedule) if schedule else None})


class PruningPPOLearner(PPOTorchLearner):
    """Adds lambda * penalty to each minibatch loss and prunes after each iteration's update.

    after_gradient_based_update runs once per algo.train(), right before PPO syncs weights to
    the EnvRunners, so samplers use the new masks in the same iteration.
    """

    def build(self) -> None:
        super().build()
        self.pruning = spec_from_dict(self.config.learner_config_dict[CONFIG_KEY])

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out) -> torch.Tensor:
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        regularizer = self.pruning.regularizer(self.module[module_id].unwrapped().actor)
        return loss if regularizer is None else loss + regularizer

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id, module in self.module.items():
            module = module.unwrapped()
            if isinstance(module, MaskedPPOModule):
                self._prune_module(module_id, module)

    @torch.no_grad()
    def _prune_module(self, module_id: str, module: MaskedPPOModule) -> None:
        module.prune_step += 1
        report = prune(module.actor, self.pruning, int(module.prune_step))
        actor = module.actor
        size = size_of(actor)
        dense = dense_size_of(actor)
        regularizer = self.pruning.regularizer(actor)
        values = {
            "neurons": size.neurons,
            **{f"neurons_l{i}": n for i, n in enumerate(size.neurons_per_layer)},
            "weights": size.weights,
            "flops": size.flops,
            "sparsity": size.sparsity(dense),
            "sparsity_target_now": report.sparsity_target_now,
            "threshold": report.threshold,
            "regularizer": 0.0 if regularizer is None else float(regularizer),
            "prune_step": int(module.prune_step),
        }
        for key, value in values.items():
            self.metrics.log_value((module_id, key), value, reduce="item")

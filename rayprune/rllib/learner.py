"""The PPO Learner hook: regularizer in the loss, masks updated once per training iteration."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY, Learner
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, ParamDict, TensorType

from rayprune.pruning import PruningSpec, distillation_loss
from rayprune.rllib.compat import steps_optimizers_plainly
from rayprune.rllib.iteration import prune_and_measure
from rayprune.rllib.module import MaskedPPOModule
from rayprune.rllib.ppo_loss import lean_loss_applies, ppo_loss

CONFIG_KEY = "rayprune"  # learner_config_dict[CONFIG_KEY] = PruningSpec.to_dict()


def distill_from(spec: PruningSpec) -> int | None:
    """The training iteration whose end freezes the teacher (the last one before pruning
    starts), or None without distillation."""
    if spec.distill_coeff == 0.0 or spec.schedule is None:
        return None
    return max(spec.schedule.start_iter, 1)


class PruningPPOLearner(PPOTorchLearner):
    """PPO's loss (ppo_loss.py where RLlib's needs no KL term) plus lambda * penalty and PoPS's
    distillation term on each minibatch, or the penalty's closed-form gradient added to the
    gradients (DSP); prunes after each iteration's update.

    after_gradient_based_update runs once per algo.train(), right before PPO syncs weights to
    the EnvRunners, so samplers use the new masks in the same iteration.
    """

    @override(Learner)
    def build(self) -> None:
        self.params_by_ref: ParamDict = {}  # filled as build() configures the optimizers
        super().build()
        self.pruning = PruningSpec.from_dict(self.config.learner_config_dict[CONFIG_KEY])
        self.distill_from = distill_from(self.pruning)

    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id: ModuleID, config: Any = None) -> None:
        super().configure_optimizers_for_module(module_id, config)
        # torch steps Adam one tensor at a time on CPU unless asked; foreach is the same update
        for _, optimizer in self.get_optimizers_for_module(module_id):
            for group in optimizer.param_groups:
                group["foreach"] = True
        # The parameters by the refs RLlib keys gradients with, through its public API (the
        # Learner's own map is private): clipping and apply_gradients reach them here.
        for param in self.get_parameters(self.module[module_id]):
            self.params_by_ref[self.get_param_ref(param)] = param

    @override(TorchLearner)
    def compute_gradients(
        self, loss_per_module: dict[ModuleID, TensorType], **kwargs: Any
    ) -> ParamDict:
        """The losses' gradients, then the regularizer's where it is computed in closed form
        (before clipping, as autograd through the loss would have it)."""
        gradients = super().compute_gradients(loss_per_module, **kwargs)
        for module_id in loss_per_module:
            module = self.module[module_id].unwrapped()
            if isinstance(module, MaskedPPOModule) and gradients:
                self.pruning.add_regularizer_grad(module.actor)
        return gradients

    @override(Learner)
    def postprocess_gradients_for_module(
        self, *, module_id: ModuleID, config: Any = None, module_gradients_dict: ParamDict
    ) -> ParamDict:
        """Global-norm clipping as RLlib's, in one foreach pass, with RLlib's handling of a
        non-finite gradient (its clip coefficient turns every gradient NaN, which
        apply_gradients then zeroes) done here once, so that apply_gradients need not test
        every gradient twice per minibatch."""
        if config.grad_clip is None or config.grad_clip_by != "global_norm":
            return super().postprocess_gradients_for_module(
                module_id=module_id, config=config, module_gradients_dict=module_gradients_dict
            )
        refs = [ref for ref, grad in module_gradients_dict.items() if grad is not None]
        norm = torch.nn.utils.get_total_norm([module_gradients_dict[r] for r in refs], foreach=True)
        params = [self.params_by_ref[ref] for ref in refs]
        if torch.isfinite(norm):
            torch.nn.utils.clip_grads_with_norm_(params, config.grad_clip, norm, foreach=True)
        else:
            for param in params:
                param.grad.zero_()
        for name, _ in self.get_optimizers_for_module(module_id):
            self.metrics.log_value((module_id, f"gradients_{name}_global_norm"), norm, window=1)
        return module_gradients_dict

    @override(TorchLearner)
    def apply_gradients(self, gradients_dict: ParamDict) -> None:
        """The optimizers' steps; the gradients are finite (postprocess_gradients_for_module)."""
        if not steps_optimizers_plainly(self):
            return super().apply_gradients(gradients_dict)
        for ref, grad in gradients_dict.items():
            self.params_by_ref[ref].grad = grad
        for module_id in self.module.keys():
            for _, optimizer in self.get_optimizers_for_module(module_id):
                optimizer.step()

    @override(PPOTorchLearner)
    def compute_loss_for_module(
        self,
        *,
        module_id: ModuleID,
        config: PPOConfig,
        batch: dict[str, Any],
        fwd_out: dict[str, TensorType],
    ) -> TensorType:
        module = self.module[module_id].unwrapped()
        if lean_loss_applies(config):
            entropy_coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()
            ppo = ppo_loss(module, config, batch, fwd_out, entropy_coeff)
            self.metrics.log_dict(
                {
                    POLICY_LOSS_KEY: ppo.policy_loss,
                    VF_LOSS_KEY: ppo.vf_loss,
                    ENTROPY_KEY: ppo.entropy,
                },
                key=module_id,
                window=1,
            )
            loss = ppo.total
        else:
            loss = super().compute_loss_for_module(
                module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
            )
        regularizer = self.pruning.loss_regularizer(module.actor)
        if regularizer is not None:
            loss = loss + regularizer
        if self.distill_from is not None and int(module.prune_step) >= self.distill_from:
            loss = loss + self.pruning.distill_coeff * self._distillation(module, batch, fwd_out)
        return loss

    def _distillation(
        self, module: MaskedPPOModule, batch: dict[str, Any], fwd_out: dict[str, TensorType]
    ) -> torch.Tensor:
        student = fwd_out[Columns.ACTION_DIST_INPUTS][..., : module.actor.head.out_features]
        with torch.no_grad():
            teacher = module.teacher(batch[Columns.OBS])
        return distillation_loss(student, teacher, module.continuous)

    @override(Learner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id, module in self.module.items():
            module = module.unwrapped()
            if isinstance(module, MaskedPPOModule):
                self._prune_module(module_id, module)

    @torch.no_grad()
    def _prune_module(self, module_id: ModuleID, module: MaskedPPOModule) -> None:
        module.prune_step += 1
        step = int(module.prune_step)
        if step == self.distill_from:
            module.teacher.load_state_dict(module.actor.state_dict())
        for key, value in prune_and_measure(module.actor, self.pruning, step).to_row().items():
            self.metrics.log_value((module_id, key), value, reduce="item")

"""PPO's loss as RLlib's PPOTorchLearner computes it when no KL term is used, with less per
minibatch: one action distribution instead of two, the masked mean taken once over the summed
per-step loss instead of five times, and three metrics instead of six."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from ray.rllib.algorithms.ppo.ppo import PPOConfig
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.typing import TensorType

from rayprune.rllib.module import MaskedPPOModule


class PPOLoss(NamedTuple):
    """The minibatch's loss to minimize and the means RLlib logs under the same names."""

    total: torch.Tensor
    policy_loss: torch.Tensor
    vf_loss: torch.Tensor
    entropy: torch.Tensor


def lean_loss_applies(config: PPOConfig) -> bool:
    """Where ppo_loss equals RLlib's: no KL penalty, a critic."""
    return not config.use_kl_loss and config.use_critic


def ppo_loss(
    module: MaskedPPOModule,
    config: PPOConfig,
    batch: dict[str, Any],
    fwd_out: dict[str, TensorType],
    entropy_coeff: float,
) -> PPOLoss:
    """L = mean[-min(r A, clip(r, 1 - eps, 1 + eps) A) + c_vf min((V - V_targ)^2, vf_clip)
    - c_ent H] (Schulman et al. 2017, Eq. 9 with RLlib's value-loss clip), the mean over the
    steps the loss mask keeps (RLlib adds one artificial step per episode for bootstrapping)."""
    dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
    ratio = torch.exp(dist.logp(batch[Columns.ACTIONS]) - batch[Columns.ACTION_LOGP])
    advantages = batch[Postprocessing.ADVANTAGES]
    clipped = torch.clamp(ratio, 1 - config.clip_param, 1 + config.clip_param)
    surrogate = torch.min(advantages * ratio, advantages * clipped)
    values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
    vf_loss = torch.clamp(
        torch.square(values - batch[Postprocessing.VALUE_TARGETS]), 0, config.vf_clip_param
    )
    entropy = dist.entropy()
    weight = step_weights(batch, surrogate)
    per_step = torch.stack([-surrogate, vf_loss, entropy]) @ weight
    total = per_step[0] + config.vf_loss_coeff * per_step[1] - entropy_coeff * per_step[2]
    detached = per_step.detach()
    return PPOLoss(total, detached[0], detached[1], detached[2])


def step_weights(batch: dict[str, Any], like: torch.Tensor) -> torch.Tensor:
    """Each step's weight in the minibatch mean: 1 / (steps kept) where the loss mask keeps
    it, else 0."""
    mask = batch.get(Columns.LOSS_MASK)
    if mask is None:
        return torch.full_like(like, 1.0 / like.numel())
    mask = mask.to(like.dtype)
    return mask / mask.sum()

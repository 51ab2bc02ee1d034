"""The PPO RLModule: a masked actor and a dense critic that share nothing."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from rayprune.policy import action_dim, obs_dim
from rayprune.pruning import MaskedMLP
from rayprune.pruning.masked_mlp import make_activation

DEFAULT_HIDDEN = [128, 128]


def dense_mlp(in_dim: int, hidden: list[int], out_dim: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(in_dim, size), make_activation(activation)]
        in_dim = size
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class MaskedPPOModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """model_config keys: hidden, critic_hidden, activation, and for some methods gates (L0),
    dropout_rate and distill (PoPS's teacher).

    For Box actions the log-std is a free parameter, so masks on the hidden neurons change the
    mean only, never the exploration noise. `prune_step` counts training iterations; being a
    persistent buffer it survives checkpoint/restore together with the masks. Training passes
    run the actor stochastically (sampled L0 gates, dropout); sampling runs it deterministically.
    The teacher is a frozen copy of the actor for distillation; it lives in the module so that it
    is checkpointed, and only on the Learner.
    """

    def setup(self) -> None:
        cfg: dict[str, Any] = self.model_config or {}
        hidden = list(cfg.get("hidden", DEFAULT_HIDDEN))
        activation = cfg.get("activation", "tanh")
        n_obs = obs_dim(self.observation_space)
        n_out = action_dim(self.action_space)
        self.continuous = isinstance(self.action_space, gym.spaces.Box)
        actor_kwargs = {"gates": cfg.get("gates"), "dropout_rate": cfg.get("dropout_rate", 0.0)}
        self.actor = MaskedMLP(n_obs, hidden, n_out, activation, **actor_kwargs)
        if self.continuous:
            self.log_std = nn.Parameter(torch.zeros(n_out))
        self.register_buffer("prune_step", torch.zeros((), dtype=torch.long), persistent=True)
        if not self.inference_only:
            critic_hidden = list(cfg.get("critic_hidden", hidden))
            self.critic = dense_mlp(n_obs, critic_hidden, 1, activation)
            if cfg.get("distill"):
                self.teacher = MaskedMLP(n_obs, hidden, n_out, activation, **actor_kwargs)
                self.teacher.requires_grad_(False)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._actor_outputs(batch, stochastic=False)

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._actor_outputs(batch, stochastic=True)

    def _actor_outputs(self, batch: dict[str, Any], stochastic: bool) -> dict[str, Any]:
        out = self.actor(batch[Columns.OBS], stochastic=stochastic)
        if self.continuous:
            out = torch.cat([out, self.log_std.expand_as(out)], dim=-1)
        return {Columns.ACTION_DIST_INPUTS: out}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return self.critic(batch[Columns.OBS]).squeeze(-1)

    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "teacher"]

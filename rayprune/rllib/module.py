"""The masked actor and dense critic, as one nn.Module both API stacks wrap: the new stack's
RLModule (here) and the old stack's ModelV2 (old_stack.py)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchMultiCategorical
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from rayprune.errors import SweepError
from rayprune.policy import describe_action_space, obs_dim
from rayprune.pruning import MaskedMLP
from rayprune.pruning.masked_mlp import make_activation
from rayprune.rllib.network import ActorCriticSpec


def dense_mlp(in_dim: int, hidden: list[int], out_dim: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(in_dim, size), make_activation(activation)]
        in_dim = size
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class MaskedActorCritic(nn.Module):
    """A masked actor and a dense critic that share nothing (a shared encoder would let the
    actor's masks cut the critic).

    For Box actions the log-std is a free parameter, so masks on the hidden neurons change the
    mean only, never the exploration noise. `prune_step` counts training iterations; being a
    persistent buffer it survives checkpoint/restore and the sync to samplers with the masks.
    The teacher is a frozen copy of the actor for distillation, kept in the module so that it is
    checkpointed. Subclasses call build_networks() from their own constructor or setup().
    """

    def build_networks(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        spec: ActorCriticSpec,
        critic: bool,
    ) -> None:
        n_obs = obs_dim(observation_space)
        n_out = describe_action_space(action_space).width
        self.continuous = isinstance(action_space, gym.spaces.Box)
        actor_kwargs = {"gates": spec.gates, "dropout_rate": spec.dropout_rate}
        self.actor = MaskedMLP(n_obs, spec.hidden, n_out, spec.activation, **actor_kwargs)
        if self.continuous:
            self.log_std = nn.Parameter(torch.zeros(n_out))
        self.register_buffer("prune_step", torch.zeros((), dtype=torch.long), persistent=True)
        if critic:
            self.critic = dense_mlp(n_obs, spec.critic_hidden, 1, spec.activation)
            if spec.distill:
                self.teacher = MaskedMLP(n_obs, spec.hidden, n_out, spec.activation, **actor_kwargs)
                self.teacher.requires_grad_(False)

    def action_dist_inputs(self, obs: torch.Tensor, stochastic: bool) -> torch.Tensor:
        """Logits, or means and log-stds; `stochastic`: L0's sampled gates and dropout."""
        out = self.actor(obs, stochastic=stochastic)
        if self.continuous:
            out = torch.cat([out, self.log_std.expand_as(out)], dim=-1)
        return out

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def start_from(self, trained: MaskedActorCritic) -> None:
        """Take a trained module's weights: the actor's, the critic's, the log-std. Masks, L0
        gates, the teacher and the pruning step stay this module's own, so pruning starts afresh
        from the trained policy."""
        own = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in trained.named_parameters():
                if name.startswith("teacher."):
                    continue
                if name not in own or own[name].shape != value.shape:
                    where = tuple(own[name].shape) if name in own else "nothing"
                    raise SweepError(
                        f"the trained policy's {name} {tuple(value.shape)} has {where} to go "
                        "to here: its network differs from this sweep's model"
                    )
                own[name].copy_(value)


class MaskedPPOModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI, MaskedActorCritic):
    """The new stack's RLModule; model_config is ActorCriticSpec.to_dict(). EnvRunners build it
    inference_only (no critic, no teacher). Training passes run the actor stochastically,
    sampling runs it deterministically."""

    @override(RLModule)
    def setup(self) -> None:
        spec = ActorCriticSpec.from_dict(self.model_config)
        self.build_networks(
            self.observation_space, self.action_space, spec, critic=not self.inference_only
        )
        if self.inference_only:
            self.eval()  # a sampler never trains: RLlib then leaves its mode alone when acting
        if isinstance(self.action_space, gym.spaces.MultiDiscrete):
            # RLlib picks no default for MultiDiscrete: one categorical per sub-action
            self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(
                input_lens=[int(n) for n in self.action_space.nvec]
            )

    @override(nn.Module)
    def train(self, mode: bool = True) -> MaskedPPOModule:
        # RLlib sets the mode around every forward pass (thousands per iteration, each walking
        # every submodule); no layer here reads it (stochastic passes are explicit), so only
        # a change walks them
        if mode == self.training:
            return self
        return super().train(mode)

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self.action_dist_inputs(batch[Columns.OBS], False)}

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self.action_dist_inputs(batch[Columns.OBS], True)}

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return self.value(batch[Columns.OBS])

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "teacher"]

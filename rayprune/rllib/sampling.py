"""A lean sampling path for the new API stack: two connectors in place of RLlib's default
env-to-module and module-to-env pipelines (eleven pieces, each timed, run on every env step).

Ours is the single-agent, stateless case those pipelines generalise (multi-agent mapping, time
ranks, per-item batching and unbatching do nothing here), so one piece each way does the same:
the last observation of every episode as one float32 tensor; the action distribution's sample
and log-probability as arrays, with Box actions clipped to the bounds for the env (the exported
policy's rule: its means clipped to the bounds). RLlib's MeanStdFilter, when observations are
normalized, runs before the first piece and writes the normalized observation into the episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.env_to_module import MeanStdFilter
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override


class EpisodeObservations(ConnectorV2):
    """Env-to-module: every ongoing episode's latest observation, stacked, as float32."""

    @override(ConnectorV2)
    def __call__(
        self, *, rl_module: RLModule, batch: dict[str, Any], episodes: list[Any], **kwargs: Any
    ) -> Any:
        if Columns.OBS not in batch:
            rows = [episode.get_observations(-1) for episode in episodes]
            batch[Columns.OBS] = torch.from_numpy(np.stack(rows).astype(np.float32, copy=False))
        return batch


class SampledActions(ConnectorV2):
    """Module-to-env: actions drawn from the module's distribution (its mode when not
    exploring), their log-probabilities and the distribution inputs as numpy rows; for a Box,
    the actions the env gets are clipped to its bounds while the episode keeps the drawn ones
    (their log-probabilities are what PPO's ratio needs)."""

    bounds: tuple[np.ndarray, np.ndarray] | None = None

    @override(ConnectorV2)
    def recompute_output_action_space(
        self, input_observation_space: gym.Space, input_action_space: gym.Space
    ) -> gym.Space:
        if isinstance(input_action_space, gym.spaces.Box):
            self.bounds = (input_action_space.low, input_action_space.high)
        return input_action_space

    @override(ConnectorV2)
    def __call__(
        self,
        *,
        rl_module: RLModule,
        batch: dict[str, Any],
        episodes: list[Any],
        explore: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        inputs = batch[Columns.ACTION_DIST_INPUTS]
        if explore:
            dist = rl_module.get_exploration_action_dist_cls().from_logits(inputs)
            actions = dist.sample()
            batch[Columns.ACTION_LOGP] = dist.logp(actions).numpy()
        else:
            dist = rl_module.get_inference_action_dist_cls().from_logits(inputs)
            actions = dist.to_deterministic().sample()
        batch[Columns.ACTION_DIST_INPUTS] = inputs.numpy()
        batch[Columns.ACTIONS] = actions.numpy()
        if self.bounds is not None:
            batch[Columns.ACTIONS_FOR_ENV] = np.clip(batch[Columns.ACTIONS], *self.bounds)
        return batch


def env_to_module(normalize: bool):
    """The env-to-module factory: RLlib's MeanStdFilter first when `normalize`."""

    def make(env: gym.Env, spaces: Any = None, device: Any = None) -> list[ConnectorV2]:
        pieces = [MeanStdFilter(multi_agent=False)] if normalize else []
        return [*pieces, EpisodeObservations()]

    return make


def module_to_env(env: gym.Env | None = None, spaces: Any = None) -> list[ConnectorV2]:
    return [SampledActions()]  # the pipeline gives it the env's action space

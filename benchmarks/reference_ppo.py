"""CleanRL's ppo.py / ppo_continuous_action.py algorithm as a class the peer benchmark steps one
iteration at a time (written out here rather than run from CleanRL's script: the script is a
loop to the end of training with tyro and tensorboard around it, and CleanRL's source is not
committed to this repository). The same algorithm: orthogonal init (sqrt 2, 0.01 for the policy
head, 1 for the value head), Adam eps 1e-5, GAE, per-minibatch advantage normalization, clipped
surrogate, global grad-norm clip, a free log-std for Box actions; with the benchmark's settings
(no lr annealing, no value clipping, no observation or reward normalization) so that every
contender runs the same PPO.
"""

from __future__ import annotations

import time
from collections import deque
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Normal


class Settings(NamedTuple):
    env: str
    num_envs: int
    num_steps: int  # per env per iteration
    minibatch_size: int
    epochs: int
    hidden: tuple[int, ...]
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


class Split(NamedTuple):
    sampling_s: float
    update_s: float


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int, out_std: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [layer_init(nn.Linear(n_in, size)), nn.Tanh()]
        n_in = size
    return nn.Sequential(*layers, layer_init(nn.Linear(n_in, n_out), std=out_std))


class Agent(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv, hidden: tuple[int, ...]) -> None:
        super().__init__()
        n_obs = int(np.prod(envs.single_observation_space.shape))
        space = envs.single_action_space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        n_out = int(space.n) if self.discrete else int(np.prod(space.shape))
        self.critic = mlp(n_obs, hidden, 1, 1.0)
        self.actor = mlp(n_obs, hidden, n_out, 0.01)
        if not self.discrete:
            self.actor_logstd = nn.Parameter(torch.zeros(1, n_out))

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
        out = self.actor(x)
        if self.discrete:
            dist = Categorical(logits=out)
            action = dist.sample() if action is None else action
            return action, dist.log_prob(action), dist.entropy(), self.critic(x)
        dist = Normal(out, self.actor_logstd.expand_as(out).exp())
        action = dist.sample() if action is None else action
        return action, dist.log_prob(action).sum(1), dist.entropy().sum(1), self.critic(x)


class ReferencePPO:
    """One `iterate()` is one of ppo.py's outer-loop iterations: a rollout of num_steps on every
    env, then `epochs` passes of shuffled minibatches."""

    def __init__(self, s: Settings, seed: int) -> None:
        torch.manual_seed(seed)
        self.s, self.rng = s, np.random.default_rng(seed)
        self.envs = gym.vector.SyncVectorEnv(
            [lambda: gym.wrappers.RecordEpisodeStatistics(gym.make(s.env))] * s.num_envs,
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
        self.agent = Agent(self.envs, s.hidden)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=s.lr, eps=1e-5)
        obs, _ = self.envs.reset(seed=seed)
        self.next_obs = torch.as_tensor(obs, dtype=torch.float32)
        self.next_done = torch.zeros(s.num_envs)
        self.recent = deque(maxlen=20)  # finished episodes' returns
        self.env_steps = 0

    def iterate(self) -> Split:
        start = time.perf_counter()
        batch = self._rollout()
        sampled = time.perf_counter()
        self._update(*batch)
        return Split(sampled - start, time.perf_counter() - sampled)

    def return_mean(self) -> float:
        return float(np.mean(self.recent)) if self.recent else float("nan")

    @torch.no_grad()
    def _rollout(self):
        n, e = self.s.num_steps, self.s.num_envs
        obs = torch.zeros((n, e, *self.envs.single_observation_space.shape))
        actions = torch.zeros((n, e, *self.envs.single_action_space.shape))
        logprobs, rewards, dones, values = (torch.zeros((n, e)) for _ in range(4))
        space = self.envs.single_action_space
        for step in range(n):
            obs[step], dones[step] = self.next_obs, self.next_done
            action, logprob, _, value = self.agent.get_action_and_value(self.next_obs)
            values[step], actions[step], logprobs[step] = value.flatten(), action, logprob
            sent = action.numpy()
            if not self.agent.discrete:
                sent = np.clip(sent, space.low, space.high)
            next_obs, reward, term, trunc, infos = self.envs.step(sent)
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32)
            self.next_obs = torch.as_tensor(next_obs, dtype=torch.float32)
            self.next_done = torch.as_tensor(np.logical_or(term, trunc), dtype=torch.float32)
            # same-step autoreset: a finished episode's last info is under final_info
            final = infos.get("final_info", {})
            if "episode" in final:
                self.recent.extend(final["episode"]["r"][final["_episode"]].tolist())
        self.env_steps += n * e
        advantages = self._gae(rewards, dones, values)
        return obs, actions, logprobs, advantages, advantages + values

    def _gae(self, rewards, dones, values) -> torch.Tensor:
        s = self.s
        next_value = self.agent.get_value(self.next_obs).reshape(1, -1)
        advantages, lastgaelam = torch.zeros_like(rewards), 0
        for t in reversed(range(s.num_steps)):
            if t == s.num_steps - 1:
                nextnonterminal, nextvalues = 1.0 - self.next_done, next_value
            else:
                nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
            delta = rewards[t] + s.gamma * nextvalues * nextnonterminal - values[t]
            lastgaelam = delta + s.gamma * s.gae_lambda * nextnonterminal * lastgaelam
            advantages[t] = lastgaelam
        return advantages

    def _update(self, obs, actions, logprobs, advantages, returns) -> None:
        s = self.s
        b_obs = obs.reshape((-1, *self.envs.single_observation_space.shape))
        b_actions = actions.reshape((-1, *self.envs.single_action_space.shape))
        b_logprobs, b_adv, b_ret = logprobs.reshape(-1), advantages.reshape(-1), returns.reshape(-1)
        for _ in range(s.epochs):
            order = self.rng.permutation(s.batch_size)
            for start in range(0, s.batch_size, s.minibatch_size):
                mb = order[start : start + s.minibatch_size]
                _, newlogprob, entropy, newvalue = self.agent.get_action_and_value(
                    b_obs[mb], b_actions[mb]
                )
                ratio = (newlogprob - b_logprobs[mb]).exp()
                adv = b_adv[mb]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(
                    -adv * ratio, -adv * torch.clamp(ratio, 1 - s.clip_coef, 1 + s.clip_coef)
                ).mean()
                v_loss = 0.5 * ((newvalue.view(-1) - b_ret[mb]) ** 2).mean()
                loss = pg_loss - s.ent_coef * entropy.mean() + v_loss * s.vf_coef
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.agent.parameters(), s.max_grad_norm)
                self.optimizer.step()

    def close(self) -> None:
        self.envs.close()

"""A task any network that trains learns: one constant observation, reward 1 for action 0,
and action 1 ends the episode. A trained (deterministic) policy returns the time limit, a
uniformly random one about 1, so a frontier search's verdicts do not hang on learning noise.

Loaded by the trial processes as `tests.integration.frontier_env:StayEnv`.
"""

import gymnasium as gym
import numpy as np


class StayEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        stays = int(action) == 0
        return np.zeros(2, np.float32), float(stays), not stays, False, {}

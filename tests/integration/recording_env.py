"""An environment whose Box actions are wider than [-1, 1] and which remembers every action it
is given (in this process), to see what the samplers send it, and a wrapper that records which
processes build an environment.

Loaded as `tests.integration.recording_env:WideBox` and `...:RecordPid`.
"""

import os
from pathlib import Path

import gymnasium as gym
import numpy as np

EPISODE_STEPS = 20


class WideBox(gym.Env):
    received: list[np.ndarray] = []
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def step(self, action):
        WideBox.received.append(np.array(action, np.float32).reshape(1))
        self.t += 1
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return obs, float(-abs(action[0])), False, self.t >= EPISODE_STEPS, {}


class RecordPid(gym.Wrapper):
    """Leaves a file named after the process that builds the environment in `folder`."""

    def __init__(self, env: gym.Env, folder: str) -> None:
        super().__init__(env)
        (Path(folder) / str(os.getpid())).touch()

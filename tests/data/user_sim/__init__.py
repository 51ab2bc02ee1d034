"""A user's own simulators, for the own-environment tests: nothing registers or imports this
package beforehand; the tests copy it into a temporary folder and put only that on the path.

Road: a 3x4 observation, a required kwarg `lanes`; reward 1 when the action is the lane the
observation's first cell points to. Beacon: a Dict observation (a Box and a Discrete). Mixer:
MultiDiscrete actions. `Road-v0` is registered on import, for the `module:Id` form.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

HORIZON = 20


class _Episodic(gym.Env):
    """Fixed-length episodes of random observations; subclasses say what earns reward."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self._draw()
        return self.obs, {}

    def step(self, action):
        reward = float(self.reward(self.obs, action))
        self.t += 1
        self.obs = self._draw()
        return self.obs, reward, False, self.t >= HORIZON, {}

    def _draw(self):
        # from the env's own generator, so that reset(seed=...) fixes the whole episode
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample()


class Road(_Episodic):
    def __init__(self, lanes):
        self.lanes = int(lanes)
        self.observation_space = spaces.Box(-1.0, 1.0, (3, 4), np.float32)
        self.action_space = spaces.Discrete(self.lanes)

    def reward(self, obs, action):
        lane = min(int((obs[0, 0] + 1.0) / 2.0 * self.lanes), self.lanes - 1)
        return action == lane


class Beacon(_Episodic):
    def __init__(self):
        self.observation_space = spaces.Dict(
            {"position": spaces.Box(-1.0, 1.0, (2,), np.float32), "signal": spaces.Discrete(3)}
        )
        self.action_space = spaces.Discrete(3)

    def reward(self, obs, action):
        return action == obs["signal"]


class Mixer(_Episodic):
    def __init__(self):
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = spaces.MultiDiscrete([2, 3])

    def reward(self, obs, action):
        return 0.5 * (action[0] == int(obs[0] > 0)) + 0.5 * (action[1] == int(obs[1] > 0) + 1)


class Broken(_Episodic):
    """Steps raise: what a simulator with a bug does."""

    def __init__(self):
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)

    def step(self, action):
        raise RuntimeError("the physics engine lost its solver")


class Chatty(_Episodic):
    """A Text observation: not something an MLP policy takes."""

    def __init__(self):
        self.observation_space = spaces.Text(8)
        self.action_space = spaces.Discrete(2)

    def reward(self, obs, action):
        return 0.0


gym.register("Road-v0", entry_point=Road, max_episode_steps=HORIZON)

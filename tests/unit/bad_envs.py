"""The user's own environment, getting it wrong: each class below makes one mistake a real
simulator makes, for the tests that every such mistake is one line naming the environment and
what it did (tests/unit/test_user_errors.py). Loaded by the CLI as `tests.unit.bad_envs:Name`.
"""

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Fine(gym.Env):
    """A plain 4-in, 2-action environment whose episodes last HORIZON steps; the others change
    one thing of it."""

    HORIZON = 10

    def __init__(self):
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = spaces.Discrete(2)

    def observe(self):
        return np.zeros(4, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observe(), {}

    def step(self, action):
        self.t += 1
        return self.observe(), 1.0, False, self.t >= self.HORIZON, {}


class ShortObservation(Fine):
    """reset() and step() return 3 numbers where the observation space says 4."""

    def observe(self):
        return np.zeros(3, np.float32)


class ShortStepObservation(Fine):
    """reset() is right; the second step() returns 3 numbers."""

    def step(self, action):
        obs, *rest = super().step(action)
        return (obs[:3] if self.t == 2 else obs), *rest


class TextObservation(Fine):
    """Observations that are strings, not numbers."""

    def observe(self):
        return np.array(["a", "b", "c", "d"])


class OutOfRangeSignal(gym.Env):
    """A Dict observation whose Discrete part is 7 where the space has 3 values."""

    def __init__(self):
        self.observation_space = spaces.Dict(
            {"position": spaces.Box(-1.0, 1.0, (2,), np.float32), "signal": spaces.Discrete(3)}
        )
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"position": np.zeros(2, np.float32), "signal": 7}, {}

    def step(self, action):
        return self.reset()[0], 0.0, False, False, {}


class InfiniteReward(Fine):
    """The third step's reward is infinite."""

    def step(self, action):
        obs, reward, *rest = super().step(action)
        return obs, (math.inf if self.t == 3 else reward), *rest


class ArrayReward(Fine):
    """A reward per observation cell: not one number."""

    def step(self, action):
        obs, _, *rest = super().step(action)
        return obs, np.ones(4), *rest


class ConstructorFails(Fine):
    """Its constructor raises a ValueError, not the TypeError of a wrong kwarg."""

    def __init__(self):
        raise ValueError("no license for the physics engine")


class ConstructorTypeError(Fine):
    """Takes no kwargs, and its body raises a TypeError of its own."""

    def __init__(self):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


class NoSpaces(gym.Env):
    """Never sets its spaces."""

    def reset(self, *, seed=None, options=None):
        return np.zeros(4, np.float32), {}


class ResetFails(Fine):
    def reset(self, *, seed=None, options=None):
        raise OSError("the simulator's server refused the connection")


class StepFailsLater(Fine):
    """Steps fine for FAIL_AFTER steps in all (past the pre-flight's few), then raises."""

    FAIL_AFTER = 30
    steps = 0

    def step(self, action):
        StepFailsLater.steps += 1
        if StepFailsLater.steps > self.FAIL_AFTER:
            raise RuntimeError("the physics engine lost its solver")
        return super().step(action)


class ShortObservationLater(Fine):
    """Observations lose a cell after FAIL_AFTER steps in all (past the pre-flight's few)."""

    FAIL_AFTER = 30
    steps = 0

    def observe(self):
        return np.zeros(3 if ShortObservationLater.steps > self.FAIL_AFTER else 4, np.float32)

    def step(self, action):
        ShortObservationLater.steps += 1
        return super().step(action)


class InfiniteBounds(Fine):
    """Box actions without bounds on one side: low -inf, high +inf for the first action."""

    def __init__(self):
        super().__init__()
        self.action_space = spaces.Box(
            np.array([-np.inf, -1.0], np.float32), np.array([np.inf, 1.0], np.float32)
        )

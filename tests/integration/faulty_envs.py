"""CartPoles that go wrong on purpose, loaded by trial processes as
`tests.integration.faulty_envs:ID`.

NanRewardCartPole-v0: rewards turn NaN after NAN_AFTER_STEPS steps, so the value loss does.
CorruptingCartPole-v0: once, after CORRUPT_AFTER_STEPS steps, empties the rayprune_state.json of
the newest checkpoint under RAYPRUNE_TEST_RESULTS (what a full disk leaves) and raises, so Tune
retries the trial from that checkpoint; the marker file RAYPRUNE_TEST_MARKER says it happened.
SolverCrashCartPole-v0: raises after SOLVER_CRASH_AFTER_STEPS steps, inside a trial.
"""

import math
import os
from pathlib import Path

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv

NAN_AFTER_STEPS = 700
# Steps summed over a trial's envs: iteration 3 (500 steps each), once the checkpoints of
# iterations 1 and 2 are written (checkpoint_every: 1).
CORRUPT_AFTER_STEPS = 1200


class NanRewardCartPole(CartPoleEnv):
    steps = 0

    def step(self, action):
        NanRewardCartPole.steps += 1
        obs, reward, terminated, truncated, info = super().step(action)
        return (
            obs,
            math.nan if self.steps > NAN_AFTER_STEPS else reward,
            terminated,
            truncated,
            info,
        )


class CorruptingCartPole(CartPoleEnv):
    steps = 0

    def step(self, action):
        CorruptingCartPole.steps += 1
        marker = Path(os.environ.get("RAYPRUNE_TEST_MARKER", "/"))
        if CorruptingCartPole.steps > CORRUPT_AFTER_STEPS and not marker.exists():
            results = Path(os.environ["RAYPRUNE_TEST_RESULTS"])
            states = sorted(results.glob("ray/*/*/checkpoint_*/rayprune_state.json"))
            states[-1].write_text("")
            marker.write_text(str(states[-1]))
            raise RuntimeError("injected failure after corrupting a checkpoint")
        return super().step(action)


gym.register("NanRewardCartPole-v0", entry_point=NanRewardCartPole, max_episode_steps=500)
gym.register("CorruptingCartPole-v0", entry_point=CorruptingCartPole, max_episode_steps=500)


class SolverCrashCartPole(CartPoleEnv):
    """Raises after SOLVER_CRASH_AFTER_STEPS steps in its process: past the pre-flight's few
    steps, inside the trial's sampling, where RLlib re-raises it as a bare RuntimeError."""

    steps = 0

    def step(self, action):
        SolverCrashCartPole.steps += 1
        if SolverCrashCartPole.steps > SOLVER_CRASH_AFTER_STEPS:
            raise RuntimeError("the physics engine lost its solver")
        return super().step(action)


SOLVER_CRASH_AFTER_STEPS = 600  # in the trial's second iteration (500 steps each)
gym.register("SolverCrashCartPole-v0", entry_point=SolverCrashCartPole, max_episode_steps=500)

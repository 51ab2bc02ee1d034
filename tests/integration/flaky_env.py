"""CartPole that raises once, mid-training, to make a Tune trial fail and be retried.

Loaded by the trial processes as `tests.integration.flaky_env:FlakyCartPole-v0`; the marker
file (RAYPRUNE_TEST_FLAKY_MARKER) records that the failure has happened; without that variable
it is plain CartPole (e.g. when a test evaluates the trained policy).
"""

import os
from pathlib import Path

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv

# Steps summed over the trial's envs: iteration 3 (500 steps each), after the checkpoint that
# iteration 2 reported, so a restart from scratch would log steps 1-2 twice.
FAIL_AFTER_STEPS = 1200


class FlakyCartPole(CartPoleEnv):
    steps = 0

    def step(self, action):
        FlakyCartPole.steps += 1
        marker = Path(os.environ.get("RAYPRUNE_TEST_FLAKY_MARKER", "/"))
        if FlakyCartPole.steps > FAIL_AFTER_STEPS and not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError("injected failure")
        return super().step(action)


gym.register("FlakyCartPole-v0", entry_point=FlakyCartPole, max_episode_steps=500)

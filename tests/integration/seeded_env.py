"""CartPole whose reward depends on the seed of its first reset, to make one trial of a sweep
trail the others at every ASHA rung, whatever the learning noise.

Loaded by the trial processes as `tests.integration.seeded_env:SeededCartPole-v0`. RLlib seeds
a trial's vectorised envs with the trial's seed, seed + 1, ...: a trial with seed >= 100 earns
1/100 of CartPole's reward.
"""

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv

POOR_SEEDS = 100


class SeededCartPole(CartPoleEnv):
    scale = 1.0

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.scale = 0.01 if seed >= POOR_SEEDS else 1.0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward * self.scale, terminated, truncated, info


gym.register("SeededCartPole-v0", entry_point=SeededCartPole, max_episode_steps=500)

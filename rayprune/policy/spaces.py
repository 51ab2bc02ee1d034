"""What rayprune supports of a gymnasium environment: a flat Box observation and a
Discrete or Box action space."""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class UnsupportedEnvError(ValueError):
    pass


def describe_action_space(space: gym.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return {
            "type": "box",
            "shape": list(space.shape),
            "low": space.low.astype(float).tolist(),
            "high": space.high.astype(float).tolist(),
        }
    raise UnsupportedEnvError(f"action space {space} is not Discrete or a 1-D Box")


def action_dim(space: gym.Space) -> int:
    """Width of the actor's head: logits for Discrete, means for Box."""
    described = describe_action_space(space)
    return described["n"] if described["type"] == "discrete" else described["shape"][0]


def obs_dim(space: gym.Space) -> int:
    if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        raise UnsupportedEnvError(f"observation space {space} is not a 1-D Box")
    return int(space.shape[0])


def make_env(env_id: str) -> gym.Env:
    """gym.make, with a one-line UnsupportedEnvError for unknown ids and missing packages."""
    try:
        return gym.make(env_id)
    except (gym.error.DependencyNotInstalled, ImportError) as err:
        raise UnsupportedEnvError(
            f"environment {env_id!r} needs a missing package: {err}"
        ) from None
    except gym.error.Error as err:
        raise UnsupportedEnvError(f"unknown environment {env_id!r}: {err}") from None


def describe_env(env: gym.Env) -> tuple[int, dict[str, Any]]:
    """(obs_dim, described action space), or UnsupportedEnvError."""
    return obs_dim(env.observation_space), describe_action_space(env.action_space)


def check_env(env_id: str) -> tuple[int, dict[str, Any]]:
    """(obs_dim, described action space) of env_id, or a one-line UnsupportedEnvError."""
    env = make_env(env_id)
    try:
        return describe_env(env)
    finally:
        env.close()

"""What rayprune supports of a gymnasium environment: a flat Box observation and a
Discrete or Box action space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import gymnasium as gym

from rayprune.errors import UnsupportedEnvError


@dataclass(frozen=True)
class ActionSpace:
    """An action space as compression.json records it: Discrete(n), or a 1-D Box with its
    bounds (what the exported policy clips its means to)."""

    type: Literal["discrete", "box"]
    n: int | None = None
    shape: tuple[int, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def discrete(self) -> bool:
        return self.type == "discrete"

    @property
    def width(self) -> int:
        """Width of the actor's head: logits for Discrete, means for Box."""
        return self.n if self.discrete else self.shape[0]

    @property
    def output_name(self) -> str:
        """The exported graph's output."""
        return "action_logits" if self.discrete else "action_mean"

    def to_json(self) -> dict[str, Any]:
        if self.discrete:
            return {"type": "discrete", "n": self.n}
        return {
            "type": "box",
            "shape": list(self.shape),
            "low": list(self.low),
            "high": list(self.high),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ActionSpace:
        if raw["type"] == "discrete":
            return cls("discrete", n=int(raw["n"]))
        return cls("box", shape=tuple(raw["shape"]), low=tuple(raw["low"]), high=tuple(raw["high"]))


class EnvSpaces(NamedTuple):
    """What a policy needs to know of its environment: the observation width and actions."""

    obs_dim: int
    action_space: ActionSpace


def describe_action_space(space: gym.Space) -> ActionSpace:
    if isinstance(space, gym.spaces.Discrete):
        return ActionSpace("discrete", n=int(space.n))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return ActionSpace(
            "box",
            shape=tuple(space.shape),
            low=tuple(space.low.astype(float).tolist()),
            high=tuple(space.high.astype(float).tolist()),
        )
    raise UnsupportedEnvError(f"action space {space} is not Discrete or a 1-D Box")


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


def env_spaces(observation_space: gym.Space, action_space: gym.Space) -> EnvSpaces:
    """The spaces rayprune serves, or UnsupportedEnvError."""
    return EnvSpaces(obs_dim(observation_space), describe_action_space(action_space))


def check_env(env_id: str) -> EnvSpaces:
    """The spaces of env_id, or a one-line UnsupportedEnvError."""
    env = make_env(env_id)
    try:
        return env_spaces(env.observation_space, env.action_space)
    finally:
        env.close()

"""What rayprune supports of a gymnasium environment, and how its observations reach the
actor: a Box as it is (any shape; the actor flattens it row-major), anything else supported
flattened by gymnasium's rule (gymnasium.spaces.flatten: Dict keys in sorted order, Tuple in
order, Discrete one-hot). Actions: Discrete, a 1-D Box, or MultiDiscrete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np

from rayprune.errors import UnsupportedEnvError, first_line
from rayprune.policy.envs import EnvSpec, closing, probe
from rayprune.policy.json_numbers import number_from_json, number_to_json

SUPPORTED = (
    "observations: Box (any shape), Discrete, MultiBinary, MultiDiscrete, and Dict or Tuple of "
    "those; actions: Discrete, a 1-D Box, MultiDiscrete"
)


@dataclass(frozen=True)
class ActionSpace:
    """An action space as compression.json records it: Discrete(n), a 1-D Box with its bounds
    (what the exported policy clips its means to), or MultiDiscrete(nvec) (one argmax over each
    sub-action's logits, in order). A Box bound that is infinite (no bound on that side) is the
    string "Infinity" or "-Infinity" in the JSON, which has no number for it (json_numbers);
    from_json also reads the bare `Infinity` tokens of files rayprune wrote before."""

    type: Literal["discrete", "box", "multi_discrete"]
    n: int | None = None
    shape: tuple[int, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    nvec: tuple[int, ...] = ()

    @property
    def discrete(self) -> bool:
        return self.type == "discrete"

    @property
    def categorical(self) -> bool:
        """The head outputs logits (Discrete, MultiDiscrete), not means."""
        return self.type != "box"

    @property
    def width(self) -> int:
        """Width of the actor's head: logits for Discrete and MultiDiscrete, means for Box."""
        if self.type == "multi_discrete":
            return sum(self.nvec)
        return self.n if self.discrete else self.shape[0]

    @property
    def output_name(self) -> str:
        """The exported graph's output."""
        return "action_logits" if self.categorical else "action_mean"

    def to_json(self) -> dict[str, Any]:
        if self.discrete:
            return {"type": "discrete", "n": self.n}
        if self.type == "multi_discrete":
            return {"type": "multi_discrete", "nvec": list(self.nvec)}
        return {
            "type": "box",
            "shape": list(self.shape),
            "low": [number_to_json(v) for v in self.low],
            "high": [number_to_json(v) for v in self.high],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ActionSpace:
        if raw["type"] == "discrete":
            return cls("discrete", n=int(raw["n"]))
        if raw["type"] == "multi_discrete":
            return cls("multi_discrete", nvec=tuple(int(n) for n in raw["nvec"]))
        return cls(
            "box",
            shape=tuple(int(n) for n in raw["shape"]),
            low=tuple(number_from_json(v) for v in raw["low"]),
            high=tuple(number_from_json(v) for v in raw["high"]),
        )

    def actions(self, outputs: np.ndarray) -> np.ndarray:
        """The deterministic actions of the policy's outputs [batch, width]: argmax (first on
        ties), one per sub-action for MultiDiscrete, or the means clipped to the bounds."""
        if self.discrete:
            return outputs.argmax(axis=-1)
        if self.type == "multi_discrete":
            cuts = np.cumsum(self.nvec)[:-1]
            return np.stack([p.argmax(axis=-1) for p in np.split(outputs, cuts, axis=-1)], -1)
        low, high = np.asarray(self.low, np.float32), np.asarray(self.high, np.float32)
        return np.clip(outputs, low, high)


class EnvSpaces(NamedTuple):
    """What a policy needs to know of its environment: the actor's input width (the
    observation flattened), its actions, and the shape the exported policy takes per
    observation (None: (obs_dim,), a flat vector)."""

    obs_dim: int
    action_space: ActionSpace
    obs_shape: tuple[int, ...] | None = None
    observation: str | None = None  # how an observation becomes the input (observation_input)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.obs_shape or (self.obs_dim,)


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
    if isinstance(space, gym.spaces.MultiDiscrete) and len(space.shape) == 1:
        return ActionSpace("multi_discrete", nvec=tuple(int(n) for n in space.nvec))
    raise UnsupportedEnvError(f"action space {space} is not supported ({SUPPORTED})")


def is_flat_box(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def _check_leaf(space: gym.Space, inside: bool) -> None:
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        for sub in space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces:
            _check_leaf(sub, inside=True)
        return
    if isinstance(space, gym.spaces.Box):
        if inside and space.dtype == np.uint8 and len(space.shape) >= 2:
            raise UnsupportedEnvError(
                f"observation space holds an image {space}: not supported ({SUPPORTED})"
            )
        return
    if not isinstance(
        space, gym.spaces.Discrete | gym.spaces.MultiBinary | gym.spaces.MultiDiscrete
    ):
        raise UnsupportedEnvError(f"observation space {space} is not supported ({SUPPORTED})")


def obs_dim(space: gym.Space) -> int:
    """The actor's input width: the observation flattened (gymnasium's flatdim)."""
    _check_leaf(space, inside=False)
    return int(gym.spaces.flatdim(space))


def taken_as_is(space: gym.Space) -> bool:
    """A Box (of any shape) reaches the exported policy as it is; everything else flattened."""
    return isinstance(space, gym.spaces.Box) and bool(space.shape)


def obs_shape(space: gym.Space) -> tuple[int, ...]:
    """What the exported policy takes per observation: a Box's own shape, else the flattened
    vector."""
    if taken_as_is(space):
        return tuple(int(n) for n in space.shape)
    return (obs_dim(space),)


def observation_input(space: gym.Space) -> str:
    """compression.json's account of how an observation becomes the policy's input."""
    if taken_as_is(space):
        return f"the observation as it is, float32 {list(space.shape)}"
    return (
        f"gymnasium.spaces.flatten(observation_space, obs) as float32 [{obs_dim(space)}]: Dict "
        f"keys in sorted order, Tuple items in order, Box row-major, Discrete one-hot; the space "
        f"is {space}"
    )


def policy_input(space: gym.Space, obs: Any) -> np.ndarray:
    """One observation of `space` as the exported policy takes it (see observation_input)."""
    if taken_as_is(space):
        return np.asarray(obs, dtype=np.float32)
    return np.asarray(gym.spaces.flatten(space, obs), dtype=np.float32)


def flat_observations(env: gym.Env) -> gym.Env:
    """The environment as the actor trains on it: 1-D Box observations (gymnasium's
    FlattenObservation, the same rule as policy_input, where they are not one already)."""
    if is_flat_box(env.observation_space):
        return env
    # flattened Discrete parts come out int64: the actor's layers take float32
    return gym.wrappers.DtypeObservation(gym.wrappers.FlattenObservation(env), np.float32)


def as_spec(env: EnvSpec | str) -> EnvSpec:
    return env if isinstance(env, EnvSpec) else EnvSpec(env)


def make_env(env: EnvSpec | str) -> gym.Env:
    """The environment with raw observations, or a one-line UnsupportedEnvError."""
    return as_spec(env).make()


def env_spaces(observation_space: gym.Space, action_space: gym.Space) -> EnvSpaces:
    """The spaces rayprune serves, or UnsupportedEnvError."""
    width, shape = obs_dim(observation_space), obs_shape(observation_space)
    return EnvSpaces(
        width,
        describe_action_space(action_space),
        None if shape == (width,) else shape,
        observation_input(observation_space),
    )


def spaces_of(spec: EnvSpec, env: gym.Env) -> EnvSpaces:
    """The spaces rayprune serves of a built environment, or one UnsupportedEnvError (one that
    never set its spaces, or does not serve them, included)."""
    try:
        observation_space, action_space = env.observation_space, env.action_space
    except Exception as err:  # the user's class never set them, or a property of theirs raised
        raise UnsupportedEnvError(
            f"environment {spec.id!r} has no observation_space and action_space to read "
            f"({type(err).__name__}: {first_line(err)}); its __init__ must set both"
        ) from None
    return env_spaces(observation_space, action_space)


def check_env(env: EnvSpec | str) -> EnvSpaces:
    """The environment built, its spaces read, and run as a trial runs it (envs.probe: reset
    and a few steps, each observation checked against its space, each reward a finite number);
    or a one-line UnsupportedEnvError saying what failed."""
    spec = as_spec(env)
    with closing(spec, spec.make()) as built:
        spaces = spaces_of(spec, built)
        probe(spec, built)
    return spaces

"""The user's environment, as they have it: a registered id, gymnasium's `module:Id`, or the
import path of a gymnasium.Env subclass (`package.module:ClassName`), made with their keyword
arguments, wrapped by their wrappers, under their time limit. One EnvSpec builds it identically
in the sweep's checks, in every EnvRunner on every node, and in `rayprune eval` from
compression.json alone.

Whatever the user's code does wrong is theirs to fix, said in one UnsupportedEnvError naming the
environment: a constructor or wrapper that raises (anything, not only the TypeError of a kwarg it
does not take), and, through reset() and step() here, which the pre-flight (probe) and every
evaluation call, a reset or step that raises, an observation not of the observation space, a
reward that is not one finite number.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from rayprune.errors import UnsupportedEnvError, first_line


@dataclass(frozen=True)
class WrapperSpec:
    """A gymnasium wrapper by import path (`module:Name`) and the keyword arguments it takes
    beside the environment."""

    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class EnvSpec:
    """What builds the environment: `id` in one of the three forms, `env_config` the keyword
    arguments it is made with, `wrappers` applied in order, `max_episode_steps` the time limit
    (None: the environment's own)."""

    id: str
    env_config: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[WrapperSpec, ...] = ()
    max_episode_steps: int | None = None

    def make(self) -> gym.Env:
        """The environment with raw observations, or a one-line UnsupportedEnvError."""
        return _wrapped(self._base(), self.wrappers)

    def _base(self) -> gym.Env:
        module, sep, name = self.id.rpartition(":")
        if sep and name not in gym.registry:
            _import_module(module, self.id)  # may register `name`
        if not sep or name in gym.registry:
            return _make_registered(name, self.env_config, self.max_episode_steps)
        return _make_class(load_object(self.id, "environment"), self)

    def settings(self) -> dict[str, Any]:
        """Everything but the id, as compression.json stores it."""
        return {
            "env_config": dict(self.env_config),
            "wrappers": [w.to_json() for w in self.wrappers],
            "max_episode_steps": self.max_episode_steps,
        }

    @classmethod
    def of(cls, env_id: str, settings: dict[str, Any]) -> EnvSpec:
        """From an id and settings()."""
        return cls(
            env_id,
            dict(settings.get("env_config") or {}),
            tuple(
                WrapperSpec(w["path"], dict(w.get("kwargs") or {}))
                for w in settings.get("wrappers") or []
            ),
            settings.get("max_episode_steps"),
        )


def load_object(path: str, what: str) -> Any:
    """`package.module:Name`, imported."""
    module, sep, name = path.rpartition(":")
    if not sep or not module or not name:
        raise UnsupportedEnvError(f"{what} {path!r} is not an import path of the form module:Name")
    found = getattr(_import_module(module, path), name, None)
    if found is None:
        raise UnsupportedEnvError(f"{what} {path!r}: module {module!r} has no {name!r}")
    return found


def _import_module(module: str, path: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UnsupportedEnvError(
            f"environment {path!r}: cannot import {module!r} ({err}); is it on PYTHONPATH, or in "
            "the config's py_modules?"
        ) from None
    except Exception as err:  # the user's module failed while importing: their code, one line
        raise UnsupportedEnvError(
            f"environment {path!r}: importing {module!r} raised {type(err).__name__}: {err}"
        ) from None


def _make_registered(env_id: str, kwargs: dict[str, Any], max_steps: int | None) -> gym.Env:
    try:
        return gym.make(env_id, max_episode_steps=max_steps, **kwargs)
    except (gym.error.DependencyNotInstalled, ImportError) as err:
        raise UnsupportedEnvError(
            f"environment {env_id!r} needs a missing package: {err}"
        ) from None
    except gym.error.Error as err:
        raise UnsupportedEnvError(f"unknown environment {env_id!r}: {err}") from None
    except TypeError as err:
        raise UnsupportedEnvError(f"environment {env_id!r} rejected env_config: {err}") from None
    except Exception as err:  # the user's constructor failed: their code, one line
        raise UnsupportedEnvError(_raised(env_id, "its constructor", err)) from None


def _make_class(cls: Any, spec: EnvSpec) -> gym.Env:
    if not (inspect.isclass(cls) and issubclass(cls, gym.Env)):
        raise UnsupportedEnvError(
            f"environment {spec.id!r} is neither a registered id nor a gymnasium.Env subclass"
        )
    _check_arguments(cls, (), spec.env_config, f"environment {spec.id!r} rejected env_config")
    try:
        env = cls(**spec.env_config)
    except Exception as err:  # the user's constructor failed: their code, one line
        raise UnsupportedEnvError(_raised(spec.id, "its constructor", err)) from None
    if spec.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, spec.max_episode_steps)
    return env


def _check_arguments(cls: Any, args: tuple, kwargs: dict[str, Any], refused: str) -> None:
    """A TypeError for arguments the class does not take, told apart from one its body raises."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call will tell
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as err:
        raise UnsupportedEnvError(f"{refused}: {err}") from None


def _wrapped(env: gym.Env, wrappers: tuple[WrapperSpec, ...]) -> gym.Env:
    for wrapper in wrappers:
        cls = load_object(wrapper.path, "wrapper")
        refused = f"wrapper {wrapper.path!r} rejected its kwargs"
        _check_arguments(cls, (env,), wrapper.kwargs, refused)
        try:
            env = cls(env, **wrapper.kwargs)
        except Exception as err:  # the user's wrapper failed: their code, one line
            raise UnsupportedEnvError(
                f"wrapper {wrapper.path!r} raised {type(err).__name__}: {first_line(err)}"
            ) from None
    return env


# Steps the pre-flight takes after its reset, resetting where an episode ends: enough for a
# simulator's first physics steps, a trial's first actions, and an episode end of a short one.
PROBE_STEPS = 10


def probe(spec: EnvSpec, env: gym.Env, steps: int = PROBE_STEPS) -> None:
    """Run `env` as a trial will: reset (seeded), then `steps` steps of sampled actions, every
    observation checked against the observation space and every reward a finite number;
    whatever fails is one UnsupportedEnvError naming the call."""
    env.action_space.seed(0)
    reset(spec, env, seed=0)
    for _ in range(steps):
        _, _, terminated, truncated = step(spec, env, env.action_space.sample())
        if terminated or truncated:
            reset(spec, env)


def reset(spec: EnvSpec, env: gym.Env, seed: int | None = None) -> Any:
    """env.reset(seed=seed)'s observation, checked; or one UnsupportedEnvError."""
    result = _call(spec, "reset", lambda: env.reset(seed=seed))
    if not (isinstance(result, tuple) and len(result) == 2):
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: reset() must return (obs, info) as gymnasium's API does"
        )
    _check_observation(spec, "reset", env.observation_space, result[0])
    return result[0]


def step(spec: EnvSpec, env: gym.Env, action: Any) -> tuple[Any, float, bool, bool]:
    """env.step(action) as (obs, reward, terminated, truncated), checked: the observation of
    the observation space, the reward one finite number; or one UnsupportedEnvError."""
    result = _call(spec, "step", lambda: env.step(action))
    if not (isinstance(result, tuple) and len(result) == 5):
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: step() must return (obs, reward, terminated, truncated, "
            "info) as gymnasium's API does"
        )
    obs, reward, terminated, truncated, _ = result
    _check_observation(spec, "step", env.observation_space, obs)
    try:
        reward = float(reward)
    except (TypeError, ValueError):
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: step() returned a reward that is not one number: "
            f"{_short(reward)}"
        ) from None
    if not np.isfinite(reward):
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: step() returned a non-finite reward ({reward})"
        )
    if np.ndim(terminated) or np.ndim(truncated):
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: step() returned terminated {_short(terminated)} and "
            f"truncated {_short(truncated)}, not two booleans"
        )
    return obs, reward, bool(terminated), bool(truncated)


def close(spec: EnvSpec, env: gym.Env) -> None:
    _call(spec, "close", env.close)


def _check_observation(spec: EnvSpec, call: str, space: gym.Space, obs: Any) -> None:
    fault = observation_fault(space, obs)
    if fault is not None:
        raise UnsupportedEnvError(f"environment {spec.id!r}: {call}() returned {fault}")


def observation_fault(space: gym.Space, obs: Any, path: str = "") -> str | None:
    """Why `obs` cannot be an observation of `space` as the policy reads it, or None: another
    shape, a dtype that does not cast to the space's (same kind: float64 to float32 does, a
    string or a complex number does not), a Discrete value out of its range (it would be
    one-hot elsewhere), a Dict without one of its keys, a Tuple of another length. Bounds are
    not checked: many simulators step past their Box's. `path`: where in a Dict or Tuple."""
    where = f"observation{path}" if path else "an observation"
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            return f"{where} that is a {type(obs).__name__}, not a dict as {space} says"
        for key, sub in space.spaces.items():
            if key not in obs:
                return f"{where} without the key {key!r} of {space}"
            fault = observation_fault(sub, obs[key], f"{path}[{key!r}]")
            if fault is not None:
                return fault
        return None
    if isinstance(space, gym.spaces.Tuple):
        if not isinstance(obs, tuple | list) or len(obs) != len(space.spaces):
            return f"{where} that is not a tuple of {len(space.spaces)} as {space} says"
        for i, (sub, item) in enumerate(zip(space.spaces, obs, strict=True)):
            fault = observation_fault(sub, item, f"{path}[{i}]")
            if fault is not None:
                return fault
        return None
    if space.shape is None or space.dtype is None:  # not a space rayprune serves: said elsewhere
        return None
    try:
        value = np.asarray(obs)
    except Exception:  # an object numpy cannot read
        return f"{where} of type {type(obs).__name__}, not an array as {space} says"
    if value.shape != tuple(space.shape):
        return f"{where} of shape {value.shape}, not {tuple(space.shape)} as {space} says"
    if not np.can_cast(value.dtype, space.dtype, casting="same_kind"):
        return f"{where} of dtype {value.dtype}, which does not cast to {space}'s {space.dtype}"
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        start, stop = (
            space.start,
            space.start + (space.n if isinstance(space, gym.spaces.Discrete) else space.nvec),
        )
        if not np.all((value >= start) & (value < stop)):
            return f"{where} {_short(obs)}, outside {space}"
    return None


def _short(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _raised(env_id: str, what: str, err: BaseException) -> str:
    return f"environment {env_id!r}: {what} raised {type(err).__name__}: {first_line(err)}"


def _call(spec: EnvSpec, what: str, call: Any) -> Any:
    try:
        return call()
    except Exception as err:  # the user's simulator raised: its message, on one line
        raise UnsupportedEnvError(_raised(spec.id, f"{what}()", err)) from None


@contextlib.contextmanager
def closing(spec: EnvSpec, env: gym.Env) -> Iterator[gym.Env]:
    """`env`, closed after the block: a close() that raises is one UnsupportedEnvError, unless
    the block raised already (then its error is the one to tell)."""
    try:
        yield env
    except BaseException:
        with contextlib.suppress(Exception):
            env.close()
        raise
    close(spec, env)

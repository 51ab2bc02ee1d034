"""The user's environment, as they have it: a registered id, gymnasium's `module:Id`, or the
import path of a gymnasium.Env subclass (`package.module:ClassName`), made with their keyword
arguments, wrapped by their wrappers, under their time limit. One EnvSpec builds it identically
in the sweep's checks, in every EnvRunner on every node, and in `rayprune eval` from
compression.json alone.
"""

from __future__ import annotations

import importlib
import inspect
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


def _make_class(cls: Any, spec: EnvSpec) -> gym.Env:
    if not (inspect.isclass(cls) and issubclass(cls, gym.Env)):
        raise UnsupportedEnvError(
            f"environment {spec.id!r} is neither a registered id nor a gymnasium.Env subclass"
        )
    try:
        env = cls(**spec.env_config)
    except TypeError as err:
        raise UnsupportedEnvError(f"environment {spec.id!r} rejected env_config: {err}") from None
    if spec.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, spec.max_episode_steps)
    return env


def _wrapped(env: gym.Env, wrappers: tuple[WrapperSpec, ...]) -> gym.Env:
    for wrapper in wrappers:
        cls = load_object(wrapper.path, "wrapper")
        try:
            env = cls(env, **wrapper.kwargs)
        except TypeError as err:
            raise UnsupportedEnvError(
                f"wrapper {wrapper.path!r} rejected its kwargs: {err}"
            ) from None
    return env


def probe(spec: EnvSpec, env: gym.Env) -> None:
    """Reset `env` and step it once (seeded); whatever fails is one UnsupportedEnvError naming
    the call."""
    env.action_space.seed(0)
    _call(spec, "reset", lambda: env.reset(seed=0))
    result = _call(spec, "step", lambda: env.step(env.action_space.sample()))
    if not (isinstance(result, tuple) and len(result) == 5):
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: step() must return (obs, reward, terminated, truncated, "
            "info) as gymnasium's API does"
        )
    if not np.isfinite(float(result[1])):
        raise UnsupportedEnvError(f"environment {spec.id!r}: step() returned a non-finite reward")


def _call(spec: EnvSpec, what: str, call: Any) -> Any:
    try:
        return call()
    except Exception as err:  # the user's simulator raised: its message, on one line
        raise UnsupportedEnvError(
            f"environment {spec.id!r}: {what}() raised {type(err).__name__}: {first_line(err)}"
        ) from None

"""Run a compact policy with onnxruntime: batched actions and gymnasium evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import gymnasium as gym
import numpy as np
import onnxruntime as ort

from rayprune.errors import ArtifactError, UnsupportedEnvError, first_line
from rayprune.policy.artifact import INPUT_NAME, ONNX_FILE
from rayprune.policy.envs import EnvSpec, closing, reset, step
from rayprune.policy.info import read_info
from rayprune.policy.spaces import EnvSpaces, as_spec, make_env, policy_input, spaces_of


class OnnxPolicy:
    """Deterministic actions: argmax of the logits, or the mean clipped to the action bounds.

    `spaces` serves a staged folder, whose compression.json is not written yet; otherwise they
    come from the folder's compression.json.
    """

    def __init__(self, policy_dir: Path, spaces: EnvSpaces | None = None) -> None:
        info = None if spaces else read_info(policy_dir)
        self.spaces = spaces or info.spaces
        self.trained_on = info.env if info else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        graph = Path(policy_dir) / ONNX_FILE
        try:
            self.session = ort.InferenceSession(
                str(graph), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors on bad graphs
            raise ArtifactError(f"cannot load {graph}: {first_line(err)[:300]}") from None
        self._check_graph(graph)

    def _check_graph(self, graph: Path) -> None:
        """The graph's input and output widths must be compression.json's, before any call."""
        (given,), outputs = self.session.get_inputs(), self.session.get_outputs()
        expected = (list(self.spaces.input_shape), self.spaces.action_space.width)
        found = (
            list(given.shape[1:]) if given.shape else None,
            outputs[0].shape[-1] if outputs else None,
        )
        if given.name != INPUT_NAME or len(outputs) != 1 or found != expected:
            raise ArtifactError(
                f"{graph} does not match compression.json: graph {given.name!r} {given.shape} -> "
                f"{[o.shape for o in outputs]}, expected obs {expected[0]} -> {expected[1]}"
            )

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        batch = np.asarray(obs, dtype=np.float32).reshape(-1, *self.spaces.input_shape)
        try:
            return self.session.run(None, {INPUT_NAME: batch})[0]
        except Exception as err:  # onnxruntime's own errors: a graph that fails at run time
            raise ArtifactError(
                f"the policy's graph failed to run: {first_line(err)[:300]}"
            ) from None

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.spaces.action_space.actions(self.outputs(obs))


class RandomPolicy:
    """Uniformly random actions, gymnasium's own `sample()` of the environment's action space,
    seeded: the floor a pruned policy's retained return is measured from."""

    trained_on = None

    def __init__(self, spaces: EnvSpaces, action_space: gym.Space, seed: int) -> None:
        self.spaces = spaces
        self.action_space = action_space
        action_space.seed(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray([self.action_space.sample()])


def random_return(env: EnvSpec, episodes: int, seed: int) -> EvalResult:
    """A random policy's return on the episodes evaluate() plays from `seed`."""
    spec = as_spec(env)
    with closing(spec, make_env(spec)) as built:
        policy = RandomPolicy(spaces_of(spec, built), built.action_space, seed)
    return evaluate(policy, spec, episodes, seed)


@dataclass(frozen=True)
class EvalResult:
    """Episode returns; mean and std are NaN when there are none (a policy never evaluated)."""

    returns: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.returns)) if self.returns else float("nan")


def eval_seed(trial_seed: int) -> int:
    """The first episode seed of a trial's evaluation: episodes it never trained on, apart for
    each seed. The sweep evaluates there, and an export re-evaluates there, so returns compare."""
    return 10_000 + 1_000 * trial_seed


class Policy(Protocol):
    """What evaluate() runs: OnnxPolicy, or the compiled C (c_runtime.CPolicy)."""

    spaces: EnvSpaces
    trained_on: str | None

    def act(self, obs: np.ndarray) -> np.ndarray: ...


def evaluate(
    policy: Policy,
    env: EnvSpec | str,
    episodes: int,
    seed: int = 0,
    seen: list[np.ndarray] | None = None,
) -> EvalResult:
    """Return of `episodes` deterministic episodes (Eq. 20), seeds seed, seed+1, ...; every
    observation the policy acted on is appended to `seen` when given (int8 calibration). The
    environment's failures are the user's: a reset() or step() that raises, an observation
    not of its space or a reward that is not a finite number is one UnsupportedEnvError."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    spec = as_spec(env)
    returns = []
    with closing(spec, make_env(spec)) as built:
        space = built.observation_space
        _check_fit(policy, spec.id, spaces_of(spec, built))
        for episode in range(episodes):
            obs = reset(spec, built, seed=seed + episode)
            total, done = 0.0, False
            while not done:
                row = policy_input(space, obs)
                if seen is not None:
                    seen.append(row)
                action = policy.act(row)[0]
                obs, reward, terminated, truncated = step(spec, built, action)
                total += reward
                done = terminated or truncated
            returns.append(total)
    return EvalResult(returns)


def _check_fit(policy: Policy, env_id: str, env: EnvSpaces) -> None:
    trained = policy.spaces
    if env.obs_dim != trained.obs_dim or env.action_space.type != trained.action_space.type:
        raise UnsupportedEnvError(
            f"{env_id} (obs {list(env.input_shape)}, {env.action_space.type} actions) does not "
            f"fit a policy trained on {policy.trained_on or 'another environment'} "
            f"(obs {list(trained.input_shape)}, {trained.action_space.type} actions)"
        )

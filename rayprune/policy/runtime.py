"""Run a compact policy with onnxruntime: batched actions and gymnasium evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from rayprune.policy.artifact import INPUT_NAME, ONNX_FILE, ArtifactError, read_info
from rayprune.policy.spaces import UnsupportedEnvError, describe_env, make_env


class OnnxPolicy:
    """Deterministic actions: argmax of the logits, or the mean clipped to the action bounds."""

    def __init__(self, policy_dir: Path) -> None:
        self.info: dict[str, Any] = read_info(policy_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(Path(policy_dir) / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors on bad graphs
            raise ArtifactError(f"cannot load {Path(policy_dir) / ONNX_FILE}: {err}") from None
        space = self.info["action_space"]
        self.discrete = space["type"] == "discrete"
        if not self.discrete:
            self.low = np.asarray(space["low"], dtype=np.float32)
            self.high = np.asarray(space["high"], dtype=np.float32)

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        batch = np.asarray(obs, dtype=np.float32).reshape(-1, self.info["obs_dim"])
        return self.session.run(None, {INPUT_NAME: batch})[0]

    def act(self, obs: np.ndarray) -> np.ndarray:
        out = self.outputs(obs)
        return out.argmax(axis=-1) if self.discrete else np.clip(out, self.low, self.high)


@dataclass(frozen=True)
class EvalResult:
    returns: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))


def evaluate(policy: OnnxPolicy, env_id: str, episodes: int, seed: int = 0) -> EvalResult:
    """Return of `episodes` deterministic episodes (Eq. 20), seeds seed, seed+1, ..."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(env_id)
    returns = []
    try:
        _check_fit(policy, env_id, *describe_env(env))
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            total, done = 0.0, False
            while not done:
                action = policy.act(obs)[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return EvalResult(returns)


def _check_fit(policy: OnnxPolicy, env_id: str, obs_dim: int, action_space: dict[str, Any]) -> None:
    trained = policy.info
    if obs_dim != trained["obs_dim"] or action_space["type"] != trained["action_space"]["type"]:
        raise UnsupportedEnvError(
            f"{env_id} (obs {obs_dim}, {action_space['type']} actions) does not fit a policy "
            f"trained on {trained['env']} (obs {trained['obs_dim']}, "
            f"{trained['action_space']['type']} actions)"
        )

"""compression.json as a type: what a compact policy is, how small, and how well it did.

Written once, when the folder is published (artifact.py), and read through read_info() only.
The JSON keys are the ones users' files already hold; two differ from the field names:
`lambda` (the field `lam`) and `sparsity` (`neuron_sparsity`).

The file is standard JSON, which any language's parser reads: a float that is not finite (an
infinite Box bound, a return never measured) is the string "Infinity", "-Infinity" or "NaN"
(json_numbers), never Python's bare `Infinity`/`NaN` tokens; files that hold those tokens,
written by rayprune before, still read.
"""

from __future__ import annotations

import functools
import json
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from rayprune.errors import ArtifactError
from rayprune.policy.envs import EnvSpec
from rayprune.policy.json_numbers import number_from_json, number_to_json
from rayprune.policy.normalization import ObsNormalization
from rayprune.policy.spaces import ActionSpace, EnvSpaces

INFO_FILE = "compression.json"
# field -> JSON key, where they differ
JSON_KEYS = {"lam": "lambda", "neuron_sparsity": "sparsity"}


@dataclass(frozen=True)
class PolicyInfo:
    """compression.json: see the module's docstring for its keys and how it writes numbers
    that are not finite (strings, as standard JSON has no token for them)."""

    env: str
    method: str
    lam: float
    sparsity_target: float
    sparsity_unit: Literal["neurons", "weights"]
    reading: str
    scope: str
    seed: int
    obs_dim: int
    action_space: ActionSpace
    activation: str
    hidden_dense: list[int]
    hidden_compact: list[int]
    ranks: list[int | None]
    neurons_dense: int
    neurons_compact: int
    neurons_dead: int
    weights_dense: int
    weights_compact: int
    flops_dense: int
    flops_compact: int
    neuron_sparsity: float
    weight_sparsity: float
    weights_removed: float  # fraction of the dense actor's weights the shipped policy drops
    compression_ratio: float  # weights_dense / weights_compact
    target_reached: bool
    eval_return_mean: float
    eval_return_std: float
    eval_episodes: int
    # The C export in c/: its weights' type and its source size.
    dtype: Literal["float32", "int8"]
    c_code_bytes: int
    # What rebuilds the environment beside `env` (EnvSpec.settings(): env_config, wrappers,
    # max_episode_steps).
    environment: dict[str, Any]
    # Each of the rest is left out of the JSON where it does not apply.
    # L0 + low rank only: the compact network's weights before and after the SVD
    params_before_lowrank: int | None = None
    params_after_lowrank: int | None = None
    lowrank_energy: float | None = None
    # An int8 export: which runtime its type applies to ("c", or "onnx" for an ONNX Runtime
    # int8 graph); its eval_return_* are the int8 policy's, float_eval_return_mean the float
    # policy's it came from.
    quantized_runtime: Literal["c", "onnx"] | None = None
    float_eval_return_mean: float | None = None
    # The shape the policy takes per observation where it is not [obs_dim], how an observation
    # becomes that input, and the observation normalization the exported policy applies itself
    # (so it takes raw observations).
    obs_shape: list[int] | None = None
    observation: str | None = None
    normalization: ObsNormalization | None = None

    @property
    def spaces(self) -> EnvSpaces:
        shape = tuple(self.obs_shape) if self.obs_shape else None
        return EnvSpaces(self.obs_dim, self.action_space, shape, self.observation)

    @property
    def env_spec(self) -> EnvSpec:
        """What builds the environment the policy was trained and evaluated on."""
        return EnvSpec.of(self.env, self.environment)

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:  # does not apply: left out
                continue
            if f.name in float_fields():
                value = number_to_json(value)
            raw[JSON_KEYS.get(f.name, f.name)] = value
        raw["action_space"] = self.action_space.to_json()
        if self.normalization is not None:
            raw["normalization"] = self.normalization.to_json()
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PolicyInfo:
        """Unknown keys are ignored (a newer rayprune may add some); a missing one is a
        KeyError naming it."""
        values = {}
        for f in fields(cls):
            key = JSON_KEYS.get(f.name, f.name)
            if key in raw:
                values[f.name] = raw[key]
            elif f.default is MISSING:  # the others are left out where they do not apply
                raise KeyError(key)
        for name in float_fields():
            if values.get(name) is not None:
                values[name] = number_from_json(values[name])
        values["action_space"] = ActionSpace.from_json(values["action_space"])
        if values.get("normalization") is not None:
            values["normalization"] = ObsNormalization.from_json(values["normalization"])
        return cls(**values)


@functools.cache
def float_fields() -> frozenset[str]:
    """The fields written through json_numbers (a non-finite value is a string in the JSON):
    those typed float, by their annotations (strings here: `from __future__ import
    annotations`)."""
    return frozenset(f.name for f in fields(PolicyInfo) if f.type in ("float", "float | None"))


def compression_ratio(weights_dense: float, weights_compact: float) -> float:
    """How many times fewer weights the shipped policy computes with than the dense actor."""
    return weights_dense / weights_compact


def write_info(policy_dir: Path, info: PolicyInfo) -> None:
    """Standard JSON only: a non-finite float anywhere but where to_json writes it as a string
    (in `environment`, say) is a ValueError before anything is written."""
    text = json.dumps(info.to_json(), indent=2, sort_keys=True, allow_nan=False)
    (Path(policy_dir) / INFO_FILE).write_text(text)


def read_info(policy_dir: Path) -> PolicyInfo:
    """compression.json of a compact_policy folder, or a one-line ArtifactError."""
    path = Path(policy_dir) / INFO_FILE
    if not path.is_file():
        raise ArtifactError(f"{policy_dir} is not a compact policy: {INFO_FILE} is missing")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path} is corrupt: {err}") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path} is corrupt: not a JSON object")
    try:
        return PolicyInfo.from_json(raw)
    except KeyError as err:
        raise ArtifactError(f"{path} is incomplete: missing {err}") from None
    except (TypeError, ValueError) as err:
        raise ArtifactError(f"{path} is corrupt: {err}") from None

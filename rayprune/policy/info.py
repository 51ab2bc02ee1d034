"""compression.json as a type: what a compact policy is, how small, and how well it did.

Written once, when the folder is published (artifact.py), and read through read_info() only.
The JSON keys are the ones users' files already hold; two differ from the field names:
`lambda` (the field `lam`) and `sparsity` (`neuron_sparsity`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from rayprune.errors import ArtifactError
from rayprune.policy.spaces import ActionSpace, EnvSpaces

INFO_FILE = "compression.json"
# field -> JSON key, where they differ
JSON_KEYS = {"lam": "lambda", "neuron_sparsity": "sparsity"}
LOWRANK_FIELDS = ("params_before_lowrank", "params_after_lowrank", "lowrank_energy")


@dataclass(frozen=True)
class PolicyInfo:
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
    compression_ratio: float
    target_reached: bool
    eval_return_mean: float
    eval_return_std: float
    eval_episodes: int
    # L0 + low rank only: the compact network's weights before and after the SVD
    params_before_lowrank: int | None = None
    params_after_lowrank: int | None = None
    lowrank_energy: float | None = None

    @property
    def spaces(self) -> EnvSpaces:
        return EnvSpaces(self.obs_dim, self.action_space)

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in LOWRANK_FIELDS and value is None:
                continue
            raw[JSON_KEYS.get(f.name, f.name)] = value
        raw["action_space"] = self.action_space.to_json()
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
            elif f.name not in LOWRANK_FIELDS:
                raise KeyError(key)
        values["action_space"] = ActionSpace.from_json(values["action_space"])
        return cls(**values)


def write_info(policy_dir: Path, info: PolicyInfo) -> None:
    (Path(policy_dir) / INFO_FILE).write_text(json.dumps(info.to_json(), indent=2, sort_keys=True))


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

"""A trial's point: the hyperparameters that vary across a sweep, and its identity in MLflow."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rayprune import names
from rayprune.pruning import METHODS


@dataclass(frozen=True)
class TrialPoint:
    """method x lambda x sparsity target x seed. Crosses Tune (its config and Optuna's samples)
    and MLflow (params) as to_params(); read back with from_params(), which also takes MLflow's
    string values."""

    method: str
    lam: float
    sparsity_target: float
    seed: int

    def to_params(self) -> dict[str, Any]:
        return {
            names.METHOD: self.method,
            names.LAMBDA: self.lam,
            names.SPARSITY_TARGET: self.sparsity_target,
            names.SEED: self.seed,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrialPoint:
        return cls(
            method=str(params[names.METHOD]),
            lam=float(params[names.LAMBDA]),
            sparsity_target=float(params[names.SPARSITY_TARGET]),
            seed=int(params[names.SEED]),
        )

    def key(self, sweep: str) -> str:
        """The trial's identity across retries and resumes: sweep name + its hyperparameters."""
        blob = json.dumps({"sweep": sweep, **self.to_params()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def run_name(self) -> str:
        """method-lam...-sp...-seed..., naming lambda only for methods with a penalty and the
        sparsity only for methods that prune."""
        method = METHODS[self.method]
        parts = [self.method]
        if method.penalty:
            parts.append(f"lam{self.lam:g}")
        if method.importance:
            parts.append(f"sp{self.sparsity_target:g}")
        return "-".join([*parts, f"seed{self.seed}"])

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
    def dense(cls, seed: int) -> TrialPoint:
        """Dense PPO's point on `seed`: the frontier search's reference and init dense's start."""
        return cls(names.DENSE_METHOD, 0.0, 0.0, seed)

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
        """'dsp l1e-3 s0.93 #1': short enough for the MLflow runs table to show whole, so seeds
        tell apart. Not an identity (key() is), so it may change between versions."""
        return self._named(
            f"l{short_number(self.lam)}", f"s{self.sparsity_target:g}", f"#{self.seed}", " "
        )

    @property
    def slug(self) -> str:
        """method-lam...-sp...-seed...: the trial's name where spaces and '#' do not belong
        (Tune's trial folders, messages about grid points)."""
        return self._named(
            f"lam{self.lam:g}", f"sp{self.sparsity_target:g}", f"seed{self.seed}", "-"
        )

    def _named(self, lam: str, target: str, seed: str, sep: str) -> str:
        """The method, its lambda only if it has a penalty, its target only if it prunes, the
        seed: the parts both names share."""
        method = METHODS[self.method]
        parts = [
            self.method,
            *([lam] if method.penalty else []),
            *([target] if method.importance else []),
        ]
        return sep.join([*parts, seed])

    def description(self, sweep: str, env: str, artifact_dir: str) -> str:
        """The run's description on its MLflow page: what the trial is and where its parts are."""
        method = METHODS[self.method]
        point = [f"method {self.method}"]
        if method.penalty:
            point.append(f"lambda {self.lam:g}")
        if method.importance:
            point.append(f"sparsity target {self.sparsity_target:g}")
        return (
            f"Trial of sweep {sweep!r} on {env}: {', '.join(point)}, seed {self.seed}. "
            f"Curves per training iteration are the metrics {names.CURVE_PREFIX}*, their step the "
            f"env steps sampled; the final eval, the shipped policy's size and its {names.RANK} "
            f"under `rayprune best`'s rule are the metrics without a prefix; the compact policy, "
            f"an MLflow Model (ONNX) "
            f"that `rayprune best` registers, is in {artifact_dir}/."
        )


def short_number(value: float) -> str:
    """Three significant digits, the shorter of plain and scientific notation, the exponent
    unpadded: 1e-3, 2.5e-4, 7.05e-5 (an Optuna sample), 0.05, 0."""
    plain = f"{value:.3g}"
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    scientific = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return scientific if len(scientific) < len(plain) else plain

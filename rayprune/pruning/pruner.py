"""One pruning method = a penalty (or none) + an importance score (or none), on a schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from rayprune.pruning.importance import (
    dsp_penalty,
    group_norms,
    layer_importances,
    random_importances,
    ssl_penalty,
)
from rayprune.pruning.masked_mlp import MaskedMLP
from rayprune.pruning.schedule import PruningSchedule, is_pruning_step, target_sparsity
from rayprune.pruning.selection import READINGS, SCOPES, Reading, Scope, select_masks

Importance = Callable[[MaskedMLP, torch.Generator], list[torch.Tensor]]


@dataclass(frozen=True)
class Method:
    """penalty(mlp) is added to the loss times lambda; importance(mlp, generator) ranks neurons
    for the schedule (the generator serves methods that draw at random)."""

    penalty: Callable[[MaskedMLP], torch.Tensor] | None
    importance: Importance | None


METHODS: dict[str, Method] = {
    "ppo": Method(penalty=None, importance=None),
    "dsp": Method(penalty=dsp_penalty, importance=lambda mlp, _: layer_importances(mlp)),
    "ssl": Method(penalty=ssl_penalty, importance=lambda mlp, _: group_norms(mlp)),
    "dropout": Method(penalty=None, importance=random_importances),
}


@dataclass(frozen=True)
class PruningSpec:
    """Everything the training loop needs to prune one actor."""

    method: str
    lambda_: float = 0.0
    schedule: PruningSchedule | None = None
    reading: Reading = "rank"
    scope: Scope = "layer"
    min_neurons: int = 1
    seed: int = 0
    _method: Method = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {sorted(METHODS)}")
        if self.lambda_ < 0:
            raise ValueError(f"lambda must be >= 0, got {self.lambda_}")
        if self.reading not in READINGS or self.scope not in SCOPES:
            raise ValueError(f"unknown reading/scope {self.reading!r}/{self.scope!r}")
        if self.min_neurons < 1:
            raise ValueError(f"min_neurons must be >= 1, got {self.min_neurons}")
        method = METHODS[self.method]
        if method.importance is not None and self.schedule is None:
            raise ValueError(f"method {self.method!r} prunes and needs a schedule")
        object.__setattr__(self, "_method", method)

    @property
    def prunes(self) -> bool:
        return self._method.importance is not None

    def regularizer(self, mlp: MaskedMLP) -> torch.Tensor | None:
        """lambda times the method's penalty (Eq. 13 for DSP), or None when there is none."""
        if self._method.penalty is None or self.lambda_ == 0.0:
            return None
        return self.lambda_ * self._method.penalty(mlp)


@dataclass(frozen=True)
class PruneReport:
    sparsity_target_now: float
    threshold: float


@torch.no_grad()
def prune(mlp: MaskedMLP, spec: PruningSpec, step: int) -> PruneReport:
    """Update the masks for training step `step` and zero what is pruned.

    threshold is p_t times the summed importance: Eq. 16's psi_t = p_t * sum Omega for DSP.
    """
    if not spec.prunes:
        return PruneReport(0.0, 0.0)
    p_t = target_sparsity(spec.schedule, step)
    # One stream per (seed, step): reproducible, and the same after a restore.
    generator = torch.Generator().manual_seed(spec.seed * 1_000_003 + step)
    importances = spec._method.importance(mlp, generator)
    if is_pruning_step(spec.schedule, step):
        new = select_masks(importances, mlp.masks, p_t, spec.reading, spec.scope, spec.min_neurons)
        for mask, update in zip(mlp.masks, new):
            mask.mul_(update)  # monotone: a neuron masked once stays masked
    zero_pruned_weights(mlp)
    total = float(sum(omega.sum() for omega in importances))
    return PruneReport(p_t, p_t * total)


@torch.no_grad()
def zero_pruned_weights(mlp: MaskedMLP) -> None:
    """Zero row i of W_l, b_l and column i of W_{l+1} for each masked neuron.

    Called after every update: the optimizer's momentum would otherwise move these weights
    again, and they should read as zero in the size metrics.
    """
    linears = mlp.linears
    for i, layer in enumerate(mlp.hidden):
        mask = layer.mask
        layer.weight.mul_(mask.unsqueeze(1))
        layer.bias.mul_(mask)
        linears[i + 1].weight.mul_(mask.unsqueeze(0))

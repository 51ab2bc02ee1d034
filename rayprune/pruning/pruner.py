"""One pruning method = a penalty (or none) + an importance score (or none), on a schedule."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, NamedTuple

import torch

from rayprune.errors import SpecError
from rayprune.pruning.compaction import CompactMLP, compact
from rayprune.pruning.importance import (
    add_dsp_penalty_grad,
    dsp_penalty,
    first_layer_group_norms,
    gate_importances,
    group_norms,
    l0_penalty,
    l1_penalty,
    layer_importances,
    random_importances,
    sgs_penalty,
    ssl_penalty,
    weight_magnitudes,
)
from rayprune.pruning.lowrank import check_energy, low_rank
from rayprune.pruning.masked_mlp import Gates, MaskedMLP
from rayprune.pruning.metrics import size_of
from rayprune.pruning.schedule import PruningSchedule, is_pruning_step, sparsity_at
from rayprune.pruning.selection import (
    Reading,
    Scope,
    below_threshold,
    check_choices,
    counts_reach_target,
    select_masks,
    select_weight_masks,
)

Importance = Callable[[MaskedMLP, torch.Generator], list[torch.Tensor]]
# What a method's sparsity target counts: hidden neurons, weights, or the unit of the actor's
# L0 gates (neurons by default, weights with gates="weight").
Unit = Literal["neurons", "weights", "gates"]


@dataclass(frozen=True)
class Method:
    """penalty(mlp) is added to the loss times lambda; importance(mlp, generator) ranks the
    units for the schedule (the generator serves methods that draw at random). `scope` fixes
    the selection scope for methods defined by one (PoPS ranks all weights globally);
    `thresholded` methods also drop every weight whose importance falls under the spec's
    weight_threshold. `add_penalty_grad(mlp, scale)`, where a method has one, adds scale times
    the penalty's gradient to the weights' .grad in closed form, in place of autograd through
    `penalty` on every minibatch."""

    penalty: Callable[[MaskedMLP], torch.Tensor] | None
    importance: Importance | None
    add_penalty_grad: Callable[[MaskedMLP, float], None] | None = None
    unit: Unit = "neurons"
    scope: Scope | None = None
    thresholded: bool = False
    lowrank: bool = False
    first_layer_only: bool = False


METHODS: dict[str, Method] = {
    "ppo": Method(penalty=None, importance=None),
    "dsp": Method(
        penalty=dsp_penalty,
        importance=lambda mlp, _: layer_importances(mlp),
        add_penalty_grad=add_dsp_penalty_grad,
    ),
    "ssl": Method(penalty=ssl_penalty, importance=lambda mlp, _: group_norms(mlp)),
    "dropout": Method(penalty=None, importance=random_importances),
    "l1": Method(
        penalty=l1_penalty, importance=weight_magnitudes, unit="weights", thresholded=True
    ),
    "pops": Method(penalty=None, importance=weight_magnitudes, unit="weights", scope="global"),
    "sgs": Method(
        penalty=sgs_penalty,
        importance=lambda mlp, _: first_layer_group_norms(mlp),
        first_layer_only=True,
    ),
    "l0": Method(penalty=l0_penalty, importance=gate_importances, unit="gates", lowrank=True),
}


def sparsity_unit(method: str, gates: str | None) -> Literal["neurons", "weights"]:
    """What `method`'s sparsity target counts on an actor built with `gates` (L0's)."""
    unit = METHODS[method].unit
    if unit == "gates":
        return "weights" if gates == "weight" else "neurons"
    return unit


@dataclass(frozen=True)
class PruningSpec:
    """Everything the training loop needs to prune one actor, validated once, here.

    `lam` is the regularizer's coefficient (the paper's lambda; `lambda` in the YAML). It
    crosses to RLlib's Learner as to_dict()'s plain types and comes back with from_dict().
    """

    method: str
    lam: float = 0.0
    schedule: PruningSchedule | None = None
    reading: Reading = "rank"
    scope: Scope = "layer"
    min_neurons: int = 1
    seed: int = 0
    weight_threshold: float = 1e-3
    distill_coeff: float = 0.0
    lowrank_energy: float = 0.99
    _method: Method = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(
                f"unknown method {self.method!r}; choose one of {sorted(METHODS)}", "method"
            )
        if not self.lam >= 0:  # also refuses NaN
            raise SpecError(f"lambda must be >= 0, got {self.lam}", "lam")
        check_choices(self.reading, self.scope)
        if self.min_neurons < 1:
            raise SpecError(f"min_neurons must be >= 1, got {self.min_neurons}", "min_neurons")
        for name in ("weight_threshold", "distill_coeff"):
            if not getattr(self, name) >= 0:
                raise SpecError(f"{name} must be >= 0, got {getattr(self, name)}", name)
        check_energy(self.lowrank_energy)
        method = METHODS[self.method]
        if method.importance is not None and self.schedule is None:
            raise SpecError(f"method {self.method!r} prunes and needs a schedule", "schedule")
        object.__setattr__(self, "_method", method)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, so Ray can ship the spec to a Learner or a rollout worker."""
        raw = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        raw["schedule"] = asdict(self.schedule) if self.schedule else None
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PruningSpec:
        schedule = raw.get("schedule")
        return cls(**{**raw, "schedule": PruningSchedule(**schedule) if schedule else None})

    @property
    def prunes(self) -> bool:
        return self._method.importance is not None

    @property
    def sparsity_target(self) -> float:
        return self.schedule.sparsity_target if self.schedule else 0.0

    def unit(self, mlp: MaskedMLP) -> Literal["neurons", "weights"]:
        """What this method's sparsity target counts on this actor."""
        return sparsity_unit(self.method, mlp.gates)

    @property
    def lowrank(self) -> bool:
        return self._method.lowrank

    def regularizer(self, mlp: MaskedMLP) -> torch.Tensor | None:
        """lambda times the method's penalty (Eq. 13 for DSP), or None when there is none."""
        if self._method.penalty is None or self.lam == 0.0:
            return None
        return self.lam * self._method.penalty(mlp)

    def loss_regularizer(self, mlp: MaskedMLP) -> torch.Tensor | None:
        """What to add to a minibatch's loss: the regularizer, unless add_regularizer_grad
        supplies its gradient after the backward pass instead."""
        return None if self._method.add_penalty_grad else self.regularizer(mlp)

    def add_regularizer_grad(self, mlp: MaskedMLP) -> None:
        """After the loss's backward pass: lambda times the penalty's gradient added to the
        weights' .grad, for methods whose gradient is computed in closed form."""
        if self._method.add_penalty_grad is not None and self.lam != 0.0:
            self._method.add_penalty_grad(mlp, self.lam)


def actor_reaches_target(mlp: MaskedMLP, spec: PruningSpec) -> bool:
    """Whether the actor holds the method's sparsity target, counted in its unit (neurons left
    after compaction, or unmasked weights) over the layers the method prunes."""
    target = spec.sparsity_target
    if spec.unit(mlp) == "weights":
        kept = [int(m.sum()) for m in mlp.weight_masks]
        dense = [m.numel() for m in mlp.weight_masks]
    else:
        kept = size_of(mlp).neurons_per_layer
        dense = [m.numel() for m in mlp.masks]
    layers = 1 if spec._method.first_layer_only else len(kept)
    return counts_reach_target(kept[:layers], dense[:layers], target)


class UnitLayers(NamedTuple):
    """What a method's sparsity target counts, layer by layer: the dense count of each layer it
    prunes and the floor each keeps (min_neurons neurons, or one weight)."""

    unit: Literal["neurons", "weights"]
    dense: list[int]
    floor: list[int]
    scope: Scope


def unit_layers(spec: PruningSpec, widths: Sequence[int], gates: Gates | None) -> UnitLayers:
    """The layers `spec`'s target counts on a network of layer widths [in, *hidden, out]."""
    unit = sparsity_unit(spec.method, gates)
    if unit == "weights":
        dense = [i * o for i, o in zip(widths[:-1], widths[1:])]
        floor = [1] * len(dense)
    else:
        dense = list(widths[1:-1])
        floor = [min(spec.min_neurons, n) for n in dense]
    if spec._method.first_layer_only:
        dense, floor = dense[:1], floor[:1]
    return UnitLayers(unit, dense, floor, spec._method.scope or spec.scope)


def reachable(layers: UnitLayers, target: float) -> bool:
    """Whether removing ceil(p_f * n) units of each layer leaves every layer its floor."""
    removable = sum(layers.dense) - sum(layers.floor)
    return sum(math.ceil(target * n - 1e-9) for n in layers.dense) <= removable


def check_reachable(spec: PruningSpec, widths: Sequence[int], gates: Gates | None) -> None:
    """Refuse a sparsity target that the floor of what each layer keeps makes unreachable
    (min_neurons neurons, or one weight, per layer), on a network of layer widths [in, *hidden,
    out]; the message says the highest target that can be reached. A target is unreachable when
    removing ceil(p_f * n) units would cut into the floor: actor_reaches_target's rounding down to
    floor(p_f * n) would otherwise call 0.5 of one neuron, or 0.9999 of [8, 8], reached."""
    if not spec.prunes:
        return
    layers = unit_layers(spec, widths, gates)
    if not reachable(layers, spec.sparsity_target):
        kept = (
            "one weight per layer"
            if layers.unit == "weights"
            else f"{spec.min_neurons} neuron(s) per layer"
        )
        most = (sum(layers.dense) - sum(layers.floor)) / sum(layers.dense)
        raise SpecError(
            f"sparsity_target {spec.sparsity_target:g} cannot be reached: keeping {kept}, at most "
            f"{most:.4g} of the {layers.unit} can go",
            "sparsity_target",
        )


def deployable(mlp: MaskedMLP, spec: PruningSpec) -> CompactMLP:
    """What ships: the compact network, low-rank factorized for methods that do that (L0)."""
    net = compact(mlp)
    return low_rank(net, spec.lowrank_energy) if spec.lowrank else net


@dataclass(frozen=True)
class PruneReport:
    sparsity_now: float  # the schedule's p_t (Eq. 17)
    threshold: float


@torch.no_grad()
def prune(mlp: MaskedMLP, spec: PruningSpec, step: int) -> PruneReport:
    """Update the masks for training step `step` and zero what is pruned.

    threshold is p_t times the summed importance: Eq. 16's psi_t = p_t * sum Omega for DSP.
    """
    if not spec.prunes:
        return PruneReport(0.0, 0.0)
    p_t = sparsity_at(spec.schedule, step)
    # One stream per (seed, step): reproducible, and the same after a restore.
    generator = torch.Generator().manual_seed(spec.seed * 1_000_003 + step)
    importances = spec._method.importance(mlp, generator)
    if is_pruning_step(spec.schedule, step):
        _update_masks(mlp, spec, importances, p_t)
    zero_pruned_weights(mlp)
    total = float(sum(omega.sum() for omega in importances))
    return PruneReport(p_t, p_t * total)


def _update_masks(
    mlp: MaskedMLP, spec: PruningSpec, importances: list[torch.Tensor], p_t: float
) -> None:
    method = spec._method
    scope = method.scope or spec.scope
    if spec.unit(mlp) == "weights":
        masks = mlp.weight_masks
        new = select_weight_masks(importances, masks, p_t, scope)
        if method.thresholded:
            new = [n * t for n, t in zip(new, below_threshold(importances, spec.weight_threshold))]
    else:
        masks = mlp.masks[: len(importances)]
        new = select_masks(importances, masks, p_t, spec.reading, scope, spec.min_neurons)
    for mask, update in zip(masks, new):
        mask.mul_(update)  # monotone: a unit masked once stays masked


@torch.no_grad()
def zero_pruned_weights(mlp: MaskedMLP) -> None:
    """Zero row i of W_l, b_l and column i of W_{l+1} for each masked neuron.

    Called after every update: the optimizer's momentum would otherwise move these weights
    again, and they should read as zero in the size metrics. Masked single weights are zeroed
    too.
    """
    linears = mlp.linears
    for layer in linears:
        layer.weight.mul_(layer.weight_mask)
    for i, layer in enumerate(mlp.hidden):
        mask = layer.mask
        layer.weight.mul_(mask.unsqueeze(1))
        layer.bias.mul_(mask)
        linears[i + 1].weight.mul_(mask.unsqueeze(0))

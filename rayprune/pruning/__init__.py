"""Pruning math in pure torch: no ray, no mlflow (tests/unit/test_layers.py proves it)."""

from rayprune.pruning.compaction import CompactMLP, LowRankLinear, compact
from rayprune.pruning.distill import distillation_loss
from rayprune.pruning.importance import (
    add_dsp_penalty_grad,
    dsp_penalty,
    layer_importances,
    neuron_importance,
)
from rayprune.pruning.lowrank import low_rank, rank_for_energy
from rayprune.pruning.masked_mlp import ACTIVATIONS, GATES, Gates, MaskedMLP, check_activation
from rayprune.pruning.metrics import (
    ITERATION_METRICS,
    ActorSize,
    IterationMetrics,
    NetworkSize,
    dead_neurons,
    dense_size,
    dense_size_of,
    size_of,
    size_of_compact,
)
from rayprune.pruning.pruner import (
    METHODS,
    PruneReport,
    PruningSpec,
    UnitLayers,
    actor_reaches_target,
    check_reachable,
    deployable,
    prune,
    sparsity_unit,
    unit_layers,
    zero_pruned_weights,
)
from rayprune.pruning.schedule import PruningSchedule, is_pruning_step, sparsity_at
from rayprune.pruning.selection import (
    READINGS,
    SCOPES,
    Reading,
    Scope,
    counts_reach_target,
    select_masks,
)

__all__ = [
    "UnitLayers",
    "unit_layers",
    "ACTIVATIONS",
    "ActorSize",
    "GATES",
    "Gates",
    "ITERATION_METRICS",
    "IterationMetrics",
    "Reading",
    "Scope",
    "check_activation",
    "check_reachable",
    "sparsity_unit",
    "LowRankLinear",
    "dead_neurons",
    "deployable",
    "distillation_loss",
    "actor_reaches_target",
    "low_rank",
    "rank_for_energy",
    "METHODS",
    "READINGS",
    "SCOPES",
    "CompactMLP",
    "MaskedMLP",
    "NetworkSize",
    "PruneReport",
    "PruningSchedule",
    "PruningSpec",
    "compact",
    "dense_size",
    "dense_size_of",
    "add_dsp_penalty_grad",
    "dsp_penalty",
    "is_pruning_step",
    "layer_importances",
    "neuron_importance",
    "prune",
    "select_masks",
    "size_of",
    "size_of_compact",
    "counts_reach_target",
    "sparsity_at",
    "zero_pruned_weights",
]

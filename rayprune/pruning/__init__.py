"""Pruning math in pure torch: no ray, no mlflow (tests/unit/test_layers.py proves it)."""

from rayprune.pruning.compaction import CompactMLP, LowRankLinear, compact
from rayprune.pruning.distill import distillation_loss
from rayprune.pruning.importance import (
    add_dsp_penalty_grad,
    dsp_penalty,
    layer_importances,
    neuron_importance,
)
from rayprune.pruning.levels import Level, kept_units, sparsity_levels, thinned
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
    check_reachable,
    deployable,
    prune,
    reached_target,
    sparsity_unit,
    unit_layers,
    zero_pruned_weights,
)
from rayprune.pruning.schedule import PruningSchedule, is_pruning_step, target_sparsity
from rayprune.pruning.selection import (
    READINGS,
    SCOPES,
    Reading,
    Scope,
    select_masks,
    target_reached,
)

__all__ = [
    "Level",
    "UnitLayers",
    "kept_units",
    "sparsity_levels",
    "thinned",
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
    "reached_target",
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
    "target_reached",
    "target_sparsity",
    "zero_pruned_weights",
]

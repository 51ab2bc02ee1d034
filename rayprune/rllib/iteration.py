"""The end of a training iteration, the same on both API stacks: prune the actor, measure it."""

from __future__ import annotations

import torch

from rayprune.pruning import (
    MaskedMLP,
    PruningSpec,
    dead_neurons,
    dense_size_of,
    prune,
    size_of,
)


@torch.no_grad()
def prune_and_measure(actor: MaskedMLP, spec: PruningSpec, step: int) -> dict[str, float]:
    """Update the masks for training iteration `step` and return the metrics both stacks report
    (one set of names, whichever stack trained the actor)."""
    report = prune(actor, spec, step)
    size = size_of(actor)
    dense = dense_size_of(actor)
    regularizer = spec.regularizer(actor)
    return {
        "neurons": size.neurons,
        **{f"neurons_l{i}": n for i, n in enumerate(size.neurons_per_layer)},
        "weights": size.weights,
        "flops": size.flops,
        "sparsity": size.sparsity(dense),
        "weight_sparsity": 1.0 - size.weights / dense.weights,
        "neurons_dead": dead_neurons(actor, size),
        "sparsity_target_now": report.sparsity_target_now,
        "threshold": report.threshold,
        "regularizer": 0.0 if regularizer is None else float(regularizer),
        "prune_step": step,
    }

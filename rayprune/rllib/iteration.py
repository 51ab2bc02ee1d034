"""The end of a training iteration, the same on both API stacks: prune the actor, measure it."""

from __future__ import annotations

import torch

from rayprune.pruning import ActorSize, IterationMetrics, MaskedMLP, PruningSpec, prune


@torch.no_grad()
def prune_and_measure(actor: MaskedMLP, spec: PruningSpec, step: int) -> IterationMetrics:
    """Update the masks for training iteration `step` and measure the actor (one set of
    metrics, whichever stack trained it)."""
    report = prune(actor, spec, step)
    regularizer = spec.regularizer(actor)
    return IterationMetrics(
        step=step,
        size=ActorSize.of(actor),
        sparsity_now=report.sparsity_now,
        threshold=report.threshold,
        regularizer=0.0 if regularizer is None else float(regularizer),
    )

"""Which neurons to mask at the schedule's sparsity p_t (Eq. 16 and 18; `sparsity_now` in
code), in two readings and two scopes.

rank: mask the lowest-importance neurons until a fraction p_t of the neurons in scope is masked.
mass: mask neurons in ascending importance while their cumulative importance stays
      <= psi_t = p_t * sum Omega (Eq. 16's threshold).
layer scope applies the rule to each hidden layer alone; global scope ranks all hidden neurons
together (the paper's literal form). Either way a layer keeps at least `min_neurons`, and
masks are monotone: a masked neuron never returns.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch

from rayprune.errors import SpecError

Reading = Literal["rank", "mass"]
Scope = Literal["layer", "global"]
READINGS: tuple[Reading, ...] = get_args(Reading)
SCOPES: tuple[Scope, ...] = get_args(Scope)


def check_choices(reading: str, scope: str) -> None:
    """The one check of a reading and a scope (PruningSpec's, and direct callers')."""
    if reading not in READINGS:
        raise SpecError(f"unknown reading {reading!r}; choose one of {READINGS}")
    if scope not in SCOPES:
        raise SpecError(f"unknown scope {scope!r}; choose one of {SCOPES}")


def select_masks(
    importances: list[torch.Tensor],
    masks: list[torch.Tensor],
    sparsity_now: float,
    reading: Reading = "rank",
    scope: Scope = "layer",
    min_neurons: int = 1,
) -> list[torch.Tensor]:
    """New masks (same shapes) for the schedule's sparsity p_t; inputs are not modified."""
    check_choices(reading, scope)
    if scope == "layer":
        return [
            _select_group([omega], [mask], sparsity_now, reading, min_neurons)[0]
            for omega, mask in zip(importances, masks)
        ]
    return _select_group(importances, masks, sparsity_now, reading, min_neurons)


def masked_count_for(fraction: float, neurons: int) -> int:
    """The rank reading's number of neurons to mask: floor(p_t * n), robust to float noise."""
    return math.floor(fraction * neurons + 1e-9)


def _select_group(
    importances: list[torch.Tensor],
    masks: list[torch.Tensor],
    sparsity_now: float,
    reading: Reading,
    min_neurons: int,
) -> list[torch.Tensor]:
    omega = torch.cat([o.detach().flatten() for o in importances]).double()
    alive = torch.cat([m.detach().flatten() for m in masks]) > 0
    layer_of = torch.cat([torch.full((m.numel(),), i) for i, m in enumerate(masks)])
    kept = [int(m.sum()) for m in masks]
    new_alive = alive.clone()

    masked = int((~alive).sum())
    to_mask = masked_count_for(sparsity_now, omega.numel())
    psi = sparsity_now * float(omega[alive].sum())
    cumulative = 0.0
    # Ascending importance; ties broken by position so the choice is deterministic.
    for idx in torch.argsort(omega.masked_fill(~alive, -1.0), stable=True).tolist():
        if not alive[idx]:
            continue
        if reading == "rank" and masked >= to_mask:
            break
        if reading == "mass" and cumulative + float(omega[idx]) > psi:
            break
        layer = int(layer_of[idx])
        if kept[layer] <= min_neurons:
            continue
        new_alive[idx] = False
        kept[layer] -= 1
        masked += 1
        cumulative += float(omega[idx])

    return [
        chunk.to(m.dtype).view_as(m)
        for chunk, m in zip(new_alive.split([m.numel() for m in masks]), masks)
    ]


def counts_reach_target(kept: list[int], dense: list[int], sparsity_target: float) -> bool:
    """True when at least floor(p_f * n_l) neurons are masked, summed over layers: the most any
    scope or reading can be asked for once whole neurons are counted per layer."""
    needed = sum(masked_count_for(sparsity_target, n) for n in dense)
    return sum(dense) - sum(kept) >= needed


def select_weight_masks(
    scores: list[torch.Tensor],
    masks: list[torch.Tensor],
    sparsity_now: float,
    scope: Scope = "layer",
    min_kept: int = 1,
) -> list[torch.Tensor]:
    """Unstructured rank reading: mask the lowest-scoring weights until a fraction p_t of the
    weights in scope is masked (each layer alone, or all layers together). Monotone, and a
    layer keeps at least `min_kept` weights."""
    check_choices("rank", scope)
    if scope == "layer":
        return [_select_weights(s, m, sparsity_now, min_kept) for s, m in zip(scores, masks)]
    flat = _select_weights(
        torch.cat([s.detach().flatten() for s in scores]),
        torch.cat([m.flatten() for m in masks]),
        sparsity_now,
        min_kept=0,
    )
    chunks = flat.split([m.numel() for m in masks])
    return [_floor(chunk.view_as(m), s, m, min_kept) for chunk, s, m in zip(chunks, scores, masks)]


def _select_weights(
    scores: torch.Tensor, mask: torch.Tensor, sparsity_now: float, min_kept: int
) -> torch.Tensor:
    alive = mask.detach().flatten() > 0
    to_mask = masked_count_for(sparsity_now, alive.numel())
    # Dead weights rank first (they count as masked), then ascending score, ties by position.
    ranked = scores.detach().flatten().double().masked_fill(~alive, -float("inf"))
    order = torch.argsort(ranked, stable=True)
    new_alive = alive.clone()
    new_alive[order[: max(to_mask, int((~alive).sum()))]] = False
    return _floor(new_alive.to(mask.dtype).view_as(mask), scores, mask, min_kept)


def _floor(
    new: torch.Tensor, scores: torch.Tensor, old: torch.Tensor, min_kept: int
) -> torch.Tensor:
    """Give back the best weights masked in this step when a layer fell below min_kept."""
    missing = min_kept - int(new.sum())
    if missing <= 0:
        return new
    candidates = (old > 0) & (new == 0)
    ranked = scores.detach().double().masked_fill(~candidates, -float("inf")).flatten()
    restore = torch.argsort(ranked, descending=True, stable=True)[
        : min(missing, int(candidates.sum()))
    ]
    new = new.clone().flatten()
    new[restore] = 1.0
    return new.view_as(old)


def below_threshold(scores: list[torch.Tensor], threshold: float) -> list[torch.Tensor]:
    """Masks that drop every weight scoring under `threshold` (L1's "weights driven to ~0")."""
    return [(s.detach() >= threshold).to(s.dtype) for s in scores]

"""Which neurons to mask at target sparsity p_t (Eq. 16 and 18), in two readings and two scopes.

rank: mask the lowest-importance neurons until a fraction p_t of the neurons in scope is masked.
mass: mask neurons in ascending importance while their cumulative importance stays
      <= psi_t = p_t * sum Omega (Eq. 16's threshold).
layer scope applies the rule to each hidden layer alone; global scope ranks all hidden neurons
together (the paper's literal form). Either way a layer keeps at least `min_neurons`, and
masks are monotone: a masked neuron never returns.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

Reading = Literal["rank", "mass"]
Scope = Literal["layer", "global"]
READINGS: tuple[str, ...] = ("rank", "mass")
SCOPES: tuple[str, ...] = ("layer", "global")


def select_masks(
    importances: list[torch.Tensor],
    masks: list[torch.Tensor],
    sparsity: float,
    reading: Reading = "rank",
    scope: Scope = "layer",
    min_neurons: int = 1,
) -> list[torch.Tensor]:
    """New masks (same shapes) for target sparsity p_t; inputs are not modified."""
    if reading not in READINGS or scope not in SCOPES:
        raise ValueError(f"unknown reading/scope {reading!r}/{scope!r}")
    if scope == "layer":
        return [
            _select_group([omega], [mask], sparsity, reading, min_neurons)[0]
            for omega, mask in zip(importances, masks)
        ]
    return _select_group(importances, masks, sparsity, reading, min_neurons)


def masked_count_for(sparsity: float, neurons: int) -> int:
    """The rank reading's number of neurons to mask: floor(p_t * n), robust to float noise."""
    return math.floor(sparsity * neurons + 1e-9)


def _select_group(
    importances: list[torch.Tensor],
    masks: list[torch.Tensor],
    sparsity: float,
    reading: Reading,
    min_neurons: int,
) -> list[torch.Tensor]:
    omega = torch.cat([o.detach().flatten() for o in importances]).double()
    alive = torch.cat([m.detach().flatten() for m in masks]) > 0
    layer_of = torch.cat([torch.full((m.numel(),), i) for i, m in enumerate(masks)])
    kept = [int(m.sum()) for m in masks]
    new_alive = alive.clone()

    masked = int((~alive).sum())
    to_mask = masked_count_for(sparsity, omega.numel())
    psi = sparsity * float(omega[alive].sum())
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


def target_reached(kept: list[int], dense: list[int], sparsity: float) -> bool:
    """True when at least floor(p_f * n_l) neurons are masked, summed over layers: the most any
    scope or reading can be asked for once whole neurons are counted per layer."""
    needed = sum(masked_count_for(sparsity, n) for n in dense)
    return sum(dense) - sum(kept) >= needed

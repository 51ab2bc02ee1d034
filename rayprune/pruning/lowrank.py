"""Low-rank (SVD) decomposition of a compact network, the L0 source's second step."""

from __future__ import annotations

import torch

from rayprune.errors import SpecError
from rayprune.pruning.compaction import CompactMLP, LowRankLinear


def check_energy(energy: float) -> float:
    """The one check of the spectral energy the SVD keeps."""
    if not 0.0 < energy <= 1.0:
        raise SpecError(f"lowrank_energy must be in (0, 1], got {energy}", "lowrank_energy")
    return energy


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    """The smallest k with sum_{j<k} s_j^2 >= energy * sum_j s_j^2 (at least 1)."""
    check_energy(energy)
    power = singular_values.double().pow(2)
    total = float(power.sum())
    if total == 0.0:
        return 1
    cumulative = torch.cumsum(power, 0) / total
    return min(int((cumulative < energy - 1e-12).sum()) + 1, power.numel())


@torch.no_grad()
def low_rank(net: CompactMLP, energy: float) -> CompactMLP:
    """Replace each layer's W (out x in) by U_k S_k V_k^T at the rank keeping `energy` of its
    spectral energy, where the two factors hold fewer numbers than W's nonzero weights; the
    other layers are copied unchanged."""
    factors = []
    for layer in net.linears:
        w = layer.weight
        u, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
        k = rank_for_energy(s, energy)
        cheaper = k * (w.shape[0] + w.shape[1]) < int(torch.count_nonzero(w))
        factors.append((k, u[:, :k] * s[:k], vh[:k]) if cheaper else None)
    ranks = [f[0] if f else None for f in factors]
    out = CompactMLP(
        net.hidden[0].in_features, net.hidden_sizes, net.head.out_features, net.activation, ranks
    )
    for src, dst, factor in zip(net.linears, out.linears, factors):
        if isinstance(dst, LowRankLinear):
            _, us, vh = factor
            dst.down.weight.copy_(vh)
            dst.up.weight.copy_(us)
            dst.up.bias.copy_(src.bias)
        else:
            dst.load_state_dict(src.state_dict())
    return out

"""Size of a network in the paper's terms (Eq. 21-23), measured on its compact form."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rayprune.pruning.compaction import CompactMLP, compact
from rayprune.pruning.masked_mlp import MaskedMLP


def count_neurons(masks: list[torch.Tensor]) -> list[int]:
    """Eq. 22 per hidden layer: ||m_l||_0."""
    return [int((mask > 0).sum()) for mask in masks]


def count_weights(weights: list[torch.Tensor]) -> int:
    """Eq. 21: M_w = sum_l (1 - S_l) * I_l * O_l, i.e. the nonzero weights (biases excluded)."""
    return sum(int(torch.count_nonzero(w)) for w in weights)


def count_flops(weights: list[torch.Tensor]) -> int:
    """Eq. 23: FLOPs = sum_l (1 - S_l) * (2 * I_l - 1) * O_l for one forward pass."""
    total = 0.0
    for w in weights:
        out_dim, in_dim = w.shape
        density = int(torch.count_nonzero(w)) / w.numel() if w.numel() else 0.0
        total += density * (2 * in_dim - 1) * out_dim
    return round(total)


@dataclass(frozen=True)
class NetworkSize:
    neurons_per_layer: list[int]
    neurons: int
    weights: int
    flops: int

    def sparsity(self, dense: NetworkSize) -> float:
        """Fraction of hidden neurons removed relative to the dense network."""
        return 1.0 - self.neurons / dense.neurons


def size_of_compact(net: CompactMLP) -> NetworkSize:
    weights = net.weight_matrices()
    hidden = net.hidden_sizes
    return NetworkSize(hidden, sum(hidden), count_weights(weights), count_flops(weights))


def size_of(mlp: MaskedMLP) -> NetworkSize:
    """The size the masked actor will have once compacted."""
    return size_of_compact(compact(mlp))


def dead_neurons(mlp: MaskedMLP, size: NetworkSize) -> int:
    """Unmasked hidden neurons that compaction removes because pruned weights left them with
    no incoming or no outgoing weights; `size` is size_of(mlp), which the caller has already."""
    return sum(count_neurons(mlp.masks)) - size.neurons


def dense_size(in_dim: int, hidden: list[int], out_dim: int) -> NetworkSize:
    """The unpruned network of the same shape (all weights nonzero)."""
    dims = [in_dim, *hidden, out_dim]
    pairs = list(zip(dims[:-1], dims[1:]))
    return NetworkSize(
        list(hidden),
        sum(hidden),
        sum(i * o for i, o in pairs),
        sum((2 * i - 1) * o for i, o in pairs),
    )


def dense_size_of(mlp: MaskedMLP) -> NetworkSize:
    """The masked actor's size before any pruning."""
    hidden = [layer.out_features for layer in mlp.hidden]
    return dense_size(mlp.hidden[0].in_features, hidden, mlp.head.out_features)

"""Size of a network in the paper's terms (Eq. 21-23), measured on its compact form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rayprune import names
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

    def neuron_sparsity(self, dense: NetworkSize) -> float:
        """Fraction of hidden neurons removed relative to the dense network."""
        return 1.0 - self.neurons / dense.neurons

    def weight_sparsity(self, dense: NetworkSize) -> float:
        """Fraction of weights removed relative to the dense network."""
        return 1.0 - self.weights / dense.weights


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


@dataclass(frozen=True)
class ActorSize:
    """The masked actor measured once: its compact (full-rank) size against its dense size.
    The learner's per-iteration metrics and compression.json both read this."""

    compact: NetworkSize
    dense: NetworkSize
    neurons_dead: int

    @classmethod
    def of(cls, mlp: MaskedMLP) -> ActorSize:
        size = size_of(mlp)
        return cls(size, dense_size_of(mlp), dead_neurons(mlp, size))

    @property
    def neuron_sparsity(self) -> float:
        return self.compact.neuron_sparsity(self.dense)

    @property
    def weight_sparsity(self) -> float:
        return self.compact.weight_sparsity(self.dense)


# The learner's metrics in every row, in IterationMetrics.values() order (the per-layer neuron
# counts come on top).
ITERATION_METRICS = (
    names.NEURONS, names.WEIGHTS, names.FLOPS, names.NEURON_SPARSITY, names.WEIGHT_SPARSITY,
    names.NEURONS_DEAD, names.SPARSITY_NOW, names.THRESHOLD, names.REGULARIZER,
)  # fmt: skip


@dataclass(frozen=True)
class IterationMetrics:
    """What the learner reports after each training iteration, on either API stack. to_row()
    and row_from() are the only mapping to metric names, so what the learner logs and what the
    trainable reads cannot drift apart."""

    step: int  # the training iteration the learner pruned at
    size: ActorSize
    sparsity_now: float  # p_t
    threshold: float
    regularizer: float

    def values(self) -> tuple[float, ...]:
        compact = self.size.compact
        return (
            compact.neurons, compact.weights, compact.flops, self.size.neuron_sparsity,
            self.size.weight_sparsity, self.size.neurons_dead, self.sparsity_now,
            self.threshold, self.regularizer,
        )  # fmt: skip

    def to_row(self) -> dict[str, float]:
        layers = self.size.compact.neurons_per_layer
        return {
            **dict(zip(ITERATION_METRICS, self.values(), strict=True)),
            **{names.layer_neurons(i): n for i, n in enumerate(layers)},
            names.PRUNE_STEP: self.step,
        }

    @staticmethod
    def row_from(logged: dict[str, Any]) -> dict[str, float]:
        """The metrics of to_row() out of a larger mapping (RLlib's learner results)."""
        layers = [k for k in logged if k.startswith(names.LAYER_NEURONS_PREFIX)]
        keys = (*ITERATION_METRICS, *layers, names.PRUNE_STEP)
        return {key: float(logged[key]) for key in keys}

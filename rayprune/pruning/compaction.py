"""Algorithm 1, line 13: rebuild the masked actor as a smaller dense network.

Beyond masked neurons, compaction removes every hidden neuron that is dead because pruned
single weights left it with no outgoing weights (it feeds nothing) or no incoming weights (it
outputs the constant act(b_i), which is folded into the next layer's bias). Either way the
compact network computes exactly what the masked one computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rayprune.pruning.gates import deterministic_gates
from rayprune.pruning.masked_mlp import MaskedMLP, make_activation


class LowRankLinear(nn.Module):
    """W ~ up.weight @ down.weight, a rank-r factorization: x -> up(down(x))."""

    def __init__(self, in_features: int, out_features: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features)
        self.in_features, self.out_features, self.rank = in_features, out_features, rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


def make_linear(in_features: int, out_features: int, rank: int | None) -> nn.Module:
    return (
        nn.Linear(in_features, out_features)
        if rank is None
        else LowRankLinear(in_features, out_features, rank)
    )


class CompactMLP(nn.Module):
    """A plain MLP, obs -> act(W h + b) ... -> linear head: the deployable policy. `ranks`
    (one per layer, head last; None = full rank) makes layers low-rank factorizations."""

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        activation: str = "tanh",
        ranks: Sequence[int | None] | None = None,
    ) -> None:
        super().__init__()
        sizes = [in_dim, *hidden, out_dim]
        ranks = list(ranks) if ranks is not None else [None] * (len(sizes) - 1)
        if len(ranks) != len(sizes) - 1:
            raise ValueError(f"need one rank per layer ({len(sizes) - 1}), got {len(ranks)}")
        layers = [make_linear(i, o, r) for i, o, r in zip(sizes[:-1], sizes[1:], ranks)]
        self.hidden = nn.ModuleList(layers[:-1])
        self.head = layers[-1]
        self.activation = activation
        self.act = make_activation(activation)

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.out_features for layer in self.hidden]

    @property
    def linears(self) -> list[nn.Module]:
        return [*self.hidden, self.head]

    @property
    def ranks(self) -> list[int | None]:
        return [getattr(layer, "rank", None) for layer in self.linears]

    def weight_matrices(self) -> list[torch.Tensor]:
        """Every weight matrix in forward order (two per low-rank layer)."""
        matrices = []
        for layer in self.linears:
            parts = [layer.down, layer.up] if isinstance(layer, LowRankLinear) else [layer]
            matrices += [part.weight.detach() for part in parts]
        return matrices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.head(x)


@torch.no_grad()
def effective_weights(mlp: MaskedMLP) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weights and biases the masked actor computes with, as a plain MLP: weight masks and
    deterministic weight gates applied, and each hidden neuron's mask (Eq. 8) and gate folded
    into the column of the next layer that reads it."""
    weights, biases = [], []
    for layer in mlp.linears:
        w = layer.weight * layer.weight_mask
        if layer.gates == "weight":
            w = w * deterministic_gates(layer.log_alpha)
        weights.append(w.clone())
        biases.append(layer.bias.detach().clone())
    for i, layer in enumerate(mlp.hidden):
        scale = layer.mask.clone()
        gate = layer.neuron_gates(stochastic=False)
        if gate is not None:
            scale = scale * gate
        weights[i + 1] *= scale.unsqueeze(0)
    return weights, biases


def _remove_dead(
    weights: list[torch.Tensor], biases: list[torch.Tensor], act: nn.Module
) -> list[torch.Tensor]:
    """Kept neuron indices per hidden layer; edits weights/biases in place so that the removed
    neurons contribute nothing. Repeats until stable: one death can starve a neighbour."""
    alive = [torch.ones(w.shape[0], dtype=torch.bool) for w in weights[:-1]]
    changed = True
    while changed:
        changed = False
        for layer, live in enumerate(alive):
            w_in, w_out = weights[layer], weights[layer + 1]
            no_out = (w_out == 0).all(dim=0) & live
            no_in = (w_in == 0).all(dim=1) & live & ~no_out
            for i in torch.nonzero(no_in).flatten().tolist():
                constant = act(biases[layer][i : i + 1])
                biases[layer + 1] += w_out[:, i] * constant
            dead = no_out | no_in
            w_out[:, dead] = 0.0
            if dead.any() and not (live & ~dead).any():
                dead[torch.nonzero(dead).flatten()[0]] = False  # a layer keeps one neuron
            if dead.any():
                live &= ~dead
                w_in[dead] = 0.0
                biases[layer][dead] = 0.0
                changed = True
    return [torch.nonzero(live).flatten() for live in alive]


@torch.no_grad()
def compact(mlp: MaskedMLP) -> CompactMLP:
    """Drop row i of W_l and b_l and column i of W_{l+1} for every masked or dead neuron i.

    The result computes the same function as the masked network: the terms removed from each
    sum are zeros, or constants already moved into the next bias.
    """
    weights, biases = effective_weights(mlp)
    keep = _remove_dead(weights, biases, mlp.act)
    in_dim = mlp.hidden[0].in_features
    out = CompactMLP(in_dim, [len(k) for k in keep], mlp.head.out_features, mlp.activation)
    inputs = torch.arange(in_dim)
    rows_per_layer = [*keep, torch.arange(mlp.head.out_features)]
    for w, b, dst, rows in zip(weights, biases, out.linears, rows_per_layer):
        dst.weight.copy_(w[rows][:, inputs])
        dst.bias.copy_(b[rows])
        inputs = rows
    return out

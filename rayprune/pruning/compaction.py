"""Algorithm 1, line 13: rebuild the masked actor as a smaller dense network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rayprune.pruning.masked_mlp import MaskedMLP, make_activation


class CompactMLP(nn.Module):
    """A plain MLP, obs -> act(W h + b) ... -> linear head: the deployable policy."""

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "tanh"
    ) -> None:
        super().__init__()
        sizes = [in_dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], out_dim)
        self.activation = activation
        self.act = make_activation(activation)

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.out_features for layer in self.hidden]

    @property
    def linears(self) -> list[nn.Linear]:
        return [*self.hidden, self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.head(x)


def kept_neurons(mlp: MaskedMLP) -> list[torch.Tensor]:
    """Indices of the unmasked neurons of each hidden layer."""
    return [torch.nonzero(mask > 0).flatten() for mask in mlp.masks]


@torch.no_grad()
def compact(mlp: MaskedMLP) -> CompactMLP:
    """Drop row i of W_l and b_l and column i of W_{l+1} for every masked neuron i.

    The result computes the same function as the masked network: a masked neuron contributes
    exactly 0 downstream, and the terms removed from each sum are those zeros.
    """
    keep = kept_neurons(mlp)
    in_dim = mlp.hidden[0].in_features
    out = CompactMLP(in_dim, [len(k) for k in keep], mlp.head.out_features, mlp.activation)
    inputs = torch.arange(in_dim)
    for src, dst, rows in zip(
        mlp.linears, out.linears, [*keep, torch.arange(mlp.head.out_features)]
    ):
        dst.weight.copy_(src.weight[rows][:, inputs])
        dst.bias.copy_(src.bias[rows])
        inputs = rows
    return out

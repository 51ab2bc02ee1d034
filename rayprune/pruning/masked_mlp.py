"""The masked actor: an MLP whose hidden neurons carry persistent binary masks (Eq. 8)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MaskedLinear(nn.Linear):
    """A hidden layer with one mask entry per output neuron.

    The mask is a persistent buffer so that it travels in RLlib state, checkpoints and the
    weight sync to EnvRunners (non-persistent buffers are silently dropped there).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", torch.ones(out_features), persistent=True)


class MaskedMLP(nn.Module):
    """obs -> h_l = act(W_l h_{l-1} + b_l) * m_l (Eq. 8) -> linear head.

    The mask multiplies the activation, so a pruned neuron outputs exactly 0 whatever its bias
    and whatever act(0) is.
    """

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "tanh"
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("a masked MLP needs at least one hidden layer")
        sizes = [in_dim, *hidden]
        self.hidden = nn.ModuleList(MaskedLinear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], out_dim)
        self.activation = activation
        self.act = make_activation(activation)

    @property
    def masks(self) -> list[torch.Tensor]:
        return [layer.mask for layer in self.hidden]

    @property
    def linears(self) -> list[nn.Linear]:
        """Every layer in order, the head last: W_1 ... W_L, W_{L+1}."""
        return [*self.hidden, self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self.act(layer(x)) * layer.mask
        return self.head(x)

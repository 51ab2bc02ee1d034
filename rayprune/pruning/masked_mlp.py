"""The masked actor: an MLP whose hidden neurons and weights carry persistent binary masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import nn
from torch.nn import functional as F

from rayprune.errors import SpecError
from rayprune.pruning.gates import LOG_ALPHA_INIT, gates

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}
Gates = Literal["neuron", "weight"]
GATES: tuple[Gates, ...] = get_args(Gates)


def check_activation(name: str) -> str:
    """The one check of an activation's name (the config calls it too)."""
    if name not in ACTIVATIONS:
        raise SpecError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return name


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[check_activation(name)]()


class MaskedLinear(nn.Linear):
    """A layer with a mask entry per output neuron (`mask`, applied by MaskedMLP after the
    activation) and one per weight (`weight_mask`, applied here), and optional L0 gates.

    Masks are persistent buffers so that they travel in RLlib state, checkpoints and the weight
    sync to EnvRunners (non-persistent buffers are silently dropped there).
    """

    def __init__(self, in_features: int, out_features: int, gates: Gates | None = None) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", torch.ones(out_features), persistent=True)
        self.register_buffer("weight_mask", torch.ones(out_features, in_features), persistent=True)
        self.gates = gates
        self.log_alpha = None
        if gates is not None:
            shape = (out_features,) if gates == "neuron" else (out_features, in_features)
            self.log_alpha = nn.Parameter(torch.full(shape, LOG_ALPHA_INIT))

    def forward(self, x: torch.Tensor, stochastic: bool = False) -> torch.Tensor:
        weight = self.weight * self.weight_mask
        if self.gates == "weight":
            weight = weight * gates(self.log_alpha, stochastic)
        return F.linear(x, weight, self.bias)

    def neuron_gates(self, stochastic: bool = False) -> torch.Tensor | None:
        return gates(self.log_alpha, stochastic) if self.gates == "neuron" else None


class MaskedMLP(nn.Module):
    """obs -> h_l = act(W_l h_{l-1} + b_l) * m_l (Eq. 8) -> linear head.

    The mask multiplies the activation, so a pruned neuron outputs exactly 0 whatever its bias
    and whatever act(0) is. `stochastic` selects the training-time behaviour: sampled L0 gates
    and dropout at `dropout_rate`; otherwise deterministic gates and no dropout (sampling,
    evaluation, export).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        activation: str = "tanh",
        gates: Gates | None = None,
        dropout_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("a masked MLP needs at least one hidden layer")
        if gates is not None and gates not in GATES:
            raise ValueError(f"unknown gates {gates!r}; choose one of {GATES}")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
        sizes = [in_dim, *hidden]
        self.hidden = nn.ModuleList(
            MaskedLinear(i, o, gates) for i, o in zip(sizes[:-1], sizes[1:])
        )
        # Outputs are never pruned as neurons, but their weights can be (unstructured methods).
        self.head = MaskedLinear(sizes[-1], out_dim, gates if gates == "weight" else None)
        self.activation = activation
        self.act = make_activation(activation)
        self.gates = gates
        self.dropout_rate = dropout_rate

    @property
    def masks(self) -> list[torch.Tensor]:
        return [layer.mask for layer in self.hidden]

    @property
    def weight_masks(self) -> list[torch.Tensor]:
        return [layer.weight_mask for layer in self.linears]

    @property
    def linears(self) -> list[MaskedLinear]:
        """Every layer in order, the head last: W_1 ... W_L, W_{L+1}."""
        return [*self.hidden, self.head]

    def forward(self, x: torch.Tensor, stochastic: bool = False) -> torch.Tensor:
        for layer in self.hidden:
            x = self.act(layer(x, stochastic)) * layer.mask
            gate = layer.neuron_gates(stochastic)
            if gate is not None:
                x = x * gate
            if stochastic and self.dropout_rate > 0:
                x = F.dropout(x, self.dropout_rate, training=True)
        return self.head(x, stochastic)

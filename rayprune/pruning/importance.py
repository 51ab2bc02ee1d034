"""Neuron importance and the group-sparse regularizer of DSP."""

from __future__ import annotations

import torch

from rayprune.pruning.masked_mlp import MaskedMLP


def neuron_importance(
    weight_in: torch.Tensor, weight_out: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Eq. 12: Omega_i = sum_j W_l[i, j]^2 * sum_k W_{l+1}[k, i]^2 * m_i.

    weight_in is W_l (neurons x inputs), weight_out is W_{l+1} (outputs x neurons).
    """
    return weight_in.pow(2).sum(dim=1) * weight_out.pow(2).sum(dim=0) * mask


def layer_importances(mlp: MaskedMLP) -> list[torch.Tensor]:
    """Eq. 12 for every hidden layer of the actor, in layer order."""
    linears = mlp.linears
    return [
        neuron_importance(linears[i].weight, linears[i + 1].weight, layer.mask)
        for i, layer in enumerate(mlp.hidden)
    ]


def dsp_penalty(mlp: MaskedMLP) -> torch.Tensor:
    """Eq. 13's penalty before lambda: sum_l sum_i Omega_i^(l), differentiable in W_l and W_{l+1}."""
    return torch.stack([omega.sum() for omega in layer_importances(mlp)]).sum()


def group_norms(mlp: MaskedMLP, eps: float = 1e-12) -> list[torch.Tensor]:
    """SSL (Wen et al. 2016), neuron-wise groups: ||W_l[i, :]||_2 * m_i for each hidden neuron.

    eps keeps the gradient finite at an all-zero (pruned) row, where the plain norm's is NaN.
    """
    return [(layer.weight.pow(2).sum(dim=1) + eps).sqrt() * layer.mask for layer in mlp.hidden]


def ssl_penalty(mlp: MaskedMLP) -> torch.Tensor:
    """Group lasso penalty before lambda: sum_l sum_i ||W_l[i, :]||_2 over unpruned neurons."""
    return torch.stack([norms.sum() for norms in group_norms(mlp)]).sum()


def random_importances(mlp: MaskedMLP, generator: torch.Generator) -> list[torch.Tensor]:
    """PPO-Dropout's importance: uniform noise, so the schedule removes neurons at random."""
    return [
        torch.rand(layer.out_features, generator=generator) * layer.mask for layer in mlp.hidden
    ]

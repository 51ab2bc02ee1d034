"""Importance scores and penalties: DSP's (Eq. 12, 13) and those of the baselines."""

from __future__ import annotations

import torch

from rayprune.pruning.gates import prob_nonzero
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


@torch.no_grad()
def add_dsp_penalty_grad(mlp: MaskedMLP, scale: float) -> None:
    """Add scale * d(Eq. 13's penalty)/dW to every layer's weight.grad, in closed form.

    With a_i = sum_j W_l[i, j]^2 and b_i = sum_k W_{l+1}[k, i]^2, neuron i of hidden layer l
    contributes a_i b_i m_i, whose gradient is 2 W_l[i, j] b_i m_i on its input row and
    2 W_{l+1}[k, i] a_i m_i on its output column; a middle layer's weight gets both. Autograd
    through dsp_penalty gives the same on every minibatch at about twice the cost (a graph of
    small ops beside the network's).
    """
    linears, hidden = mlp.linears, mlp.hidden
    squares = [layer.weight.square() for layer in linears]
    for index, layer in enumerate(linears):
        factor: torch.Tensor | float = 0.0
        if index < len(hidden):  # W_l of hidden layer `index`: rows scaled by b_i m_i
            factor = factor + (squares[index + 1].sum(dim=0) * hidden[index].mask).unsqueeze(1)
        if index > 0:  # W_{l+1} of hidden layer `index - 1`: columns scaled by a_i m_i
            factor = factor + squares[index - 1].sum(dim=1) * hidden[index - 1].mask
        layer.weight.grad.addcmul_(layer.weight, factor, value=2.0 * scale)


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


def sgs_penalty(mlp: MaskedMLP) -> torch.Tensor:
    """SGS (Aghdaie et al. 2022): the group lasso of ssl_penalty on the first layer only."""
    return group_norms(mlp)[0].sum()


def first_layer_group_norms(mlp: MaskedMLP) -> list[torch.Tensor]:
    """SGS ranks the neurons of the first hidden layer alone."""
    return group_norms(mlp)[:1]


def l1_penalty(mlp: MaskedMLP) -> torch.Tensor:
    """L1 lasso (Li et al. 2022) before lambda: sum |w| over the unpruned weights of every layer."""
    return torch.stack(
        [(layer.weight * layer.weight_mask).abs().sum() for layer in mlp.linears]
    ).sum()


def weight_magnitudes(mlp: MaskedMLP, _generator: torch.Generator) -> list[torch.Tensor]:
    """|w| of every unpruned weight, per layer (head included): the importance of L1 and PoPS."""
    return [(layer.weight * layer.weight_mask).abs() for layer in mlp.linears]


def gate_importances(
    mlp: MaskedMLP, _generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """L0's importance: each live gate's probability of being nonzero (Louizos Eq. 12), per
    hidden layer for neuron gates, per layer (head included) for weight gates."""
    if mlp.gates == "neuron":
        return [prob_nonzero(layer.log_alpha) * layer.mask for layer in mlp.hidden]
    if mlp.gates == "weight":
        return [prob_nonzero(layer.log_alpha) * layer.weight_mask for layer in mlp.linears]
    raise ValueError("method 'l0' needs an actor built with gates ('neuron' or 'weight')")


def l0_penalty(mlp: MaskedMLP) -> torch.Tensor:
    """The expected L0 norm of the live gates (Louizos Eq. 12 summed), before lambda."""
    return torch.stack([p.sum() for p in gate_importances(mlp)]).sum()

"""The neuron-level baselines: SSL group lasso and random (dropout) pruning."""

import math

import pytest
import torch

from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, prune
from rayprune.pruning.importance import group_norms, random_importances, ssl_penalty
from rayprune.sweep.config import parse_config
from rayprune.sweep.config.grid import points

W1 = torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]])


def mlp_with(weight: torch.Tensor, mask: list[float]) -> MaskedMLP:
    mlp = MaskedMLP(2, [3], 2)
    with torch.no_grad():
        mlp.hidden[0].weight.copy_(weight)
        mlp.hidden[0].mask.copy_(torch.tensor(mask))
    return mlp


def test_group_norms_are_row_norms_of_unpruned_neurons():
    norms = group_norms(mlp_with(W1, [1.0, 1.0, 0.0]))[0]
    assert norms.tolist() == pytest.approx([math.sqrt(5), 1.0, 0.0])
    assert ssl_penalty(mlp_with(W1, [1.0, 1.0, 1.0])).item() == pytest.approx(math.sqrt(5) + 1 + 3)


def test_ssl_gradient_is_unit_row_and_finite_at_a_pruned_neuron():
    weight = W1.clone()
    weight[2] = 0.0
    mlp = mlp_with(weight, [1.0, 1.0, 0.0])
    ssl_penalty(mlp).backward()
    grad = mlp.hidden[0].weight.grad
    assert torch.isfinite(grad).all()
    assert grad[0].tolist() == pytest.approx((W1[0] / math.sqrt(5)).tolist())
    assert grad[2].tolist() == [0.0, 0.0]


def test_random_importance_is_reproducible_and_ignores_pruned_neurons():
    mlp = mlp_with(W1, [1.0, 0.0, 1.0])
    a = random_importances(mlp, torch.Generator().manual_seed(7))[0]
    b = random_importances(mlp, torch.Generator().manual_seed(7))[0]
    assert torch.equal(a, b) and a[1] == 0 and (a[[0, 2]] > 0).all()


def dropout_masks(seed: int) -> list[list[float]]:
    torch.manual_seed(0)  # same weights: only the pruning seed differs
    mlp = MaskedMLP(4, [32, 32], 2)
    schedule = PruningSchedule(sparsity_target=0.5, start_iter=1, end_iter=2)
    prune(mlp, PruningSpec(method="dropout", schedule=schedule, seed=seed), 2)
    return [m.tolist() for m in mlp.masks]


def test_dropout_prunes_to_target_at_random_per_seed():
    first = dropout_masks(seed=0)
    assert [sum(m) for m in first] == [16, 16]
    assert dropout_masks(seed=0) == first
    assert dropout_masks(seed=1) != first


def test_ssl_ranks_by_group_norm():
    mlp = mlp_with(W1, [1.0, 1.0, 1.0])
    schedule = PruningSchedule(sparsity_target=0.34, start_iter=0, end_iter=1)
    prune(mlp, PruningSpec(method="ssl", lam=1e-3, schedule=schedule), 1)
    assert mlp.hidden[0].mask.tolist() == [1.0, 0.0, 1.0]  # the row of norm 1 goes first


def test_methods_without_a_penalty_ignore_the_lambda_axis():
    cfg = parse_config(
        {
            "name": "m",
            "env": "CartPole-v1",
            "budget_env_steps": 200_000,
            "grid": {"method": ["ssl", "dropout"], "lambda": [1e-5, 1e-4], "seed": [0]},
        }
    )
    assert [(p.method, p.lam) for p in points(cfg)] == [
        ("ssl", 1e-5),
        ("ssl", 1e-4),
        ("dropout", 0.0),
    ]

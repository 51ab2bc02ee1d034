"""The weight-level and gated methods: L1, PoPS, SGS, L0 (+ low rank), dropout, distillation."""

import math

import pytest
import torch

from rayprune.pruning import (
    ACTIVATIONS,
    MaskedMLP,
    PruningSchedule,
    PruningSpec,
    compact,
    dead_neurons,
    deployable,
    distillation_loss,
    low_rank,
    prune,
    rank_for_energy,
    size_of,
    size_of_compact,
)
from rayprune.pruning.gates import deterministic_gates, prob_nonzero, sample_gates
from rayprune.pruning.importance import (
    gate_importances,
    l0_penalty,
    l1_penalty,
    sgs_penalty,
    weight_magnitudes,
)
from rayprune.pruning.selection import below_threshold, select_weight_masks

ONE_STEP = PruningSchedule(sparsity_target=0.5, start_iter=1, end_iter=2)


def tiny(weights: list[list[list[float]]], gates=None) -> MaskedMLP:
    """A 2-2-2 MLP with the given W_1, W_2 (head) and zero biases."""
    mlp = MaskedMLP(2, [2], 2, gates=gates)
    with torch.no_grad():
        for layer, w in zip(mlp.linears, weights):
            layer.weight.copy_(torch.tensor(w))
            layer.bias.zero_()
    return mlp


def test_l1_penalty_sums_absolute_unpruned_weights():
    mlp = tiny([[[1.0, -2.0], [0.5, 0.0]], [[-3.0, 1.0], [0.0, 4.0]]])
    assert l1_penalty(mlp).item() == pytest.approx(11.5)
    mlp.head.weight_mask[1, 1] = 0.0
    assert l1_penalty(mlp).item() == pytest.approx(7.5)
    l1_penalty(mlp).backward()
    assert mlp.hidden[0].weight.grad.tolist() == [[1.0, -1.0], [1.0, 0.0]]  # sign(w)


def test_weight_selection_by_layer_and_globally():
    scores = [torch.tensor([[3.0, 1.0], [2.0, 4.0]]), torch.tensor([[0.5, 9.0]])]
    masks = [torch.ones(2, 2), torch.ones(1, 2)]
    by_layer = select_weight_masks(scores, masks, 0.5, "layer")
    assert [m.tolist() for m in by_layer] == [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0]]]
    # 6 weights, 3 to mask: 0.5, 1, 2 are the smallest wherever they are
    glob = select_weight_masks(scores, masks, 0.5, "global")
    assert [m.tolist() for m in glob] == [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0]]]
    # global at 5/6: the head would lose both weights; the floor gives its best one back
    glob = select_weight_masks(scores, masks, 5 / 6, "global", min_kept=1)
    assert [m.tolist() for m in glob] == [[[0.0, 0.0], [0.0, 1.0]], [[0.0, 1.0]]]


def test_weight_selection_is_monotone():
    scores = [torch.tensor([[3.0, 1.0, 2.0, 4.0]])]
    mask = [torch.tensor([[0.0, 1.0, 1.0, 1.0]])]  # the highest score was pruned earlier
    new = select_weight_masks(scores, mask, 0.5, "layer")[0]
    assert new.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_below_threshold():
    assert below_threshold([torch.tensor([1e-4, 2e-3, 0.0])], 1e-3)[0].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("method,scope_sum", [("l1", None), ("pops", 0)])
def test_unstructured_methods_reach_their_weight_target(method, scope_sum):
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [16, 16], 2)
    spec = PruningSpec(method=method, lam=1e-3, schedule=ONE_STEP)
    prune(mlp, spec, 2)
    masks = mlp.weight_masks
    total = sum(m.numel() for m in masks)
    masked = sum(int((m == 0).sum()) for m in masks)
    if method == "l1":  # layer scope: half of each layer, plus anything under the threshold
        assert all(int((m == 0).sum()) >= m.numel() // 2 for m in masks)
    else:  # global magnitude: exactly half of all weights
        assert masked == total // 2
    assert masked >= total // 2
    for layer in mlp.linears:
        assert torch.all(layer.weight[layer.weight_mask == 0] == 0)
    assert spec.unit(mlp) == "weights"


def test_l1_drops_weights_under_its_threshold():
    mlp = tiny([[[1.0, 5e-4], [0.5, 2.0]], [[3.0, 1.0], [2.0, 4.0]]])
    spec = PruningSpec(
        method="l1",
        schedule=PruningSchedule(sparsity_target=0.1, start_iter=1, end_iter=2),
        weight_threshold=1e-3,
    )
    prune(mlp, spec, 2)  # the rank rule masks floor(0.1 * 4) = 0 per layer; the threshold one
    assert mlp.hidden[0].weight_mask.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert mlp.head.weight_mask.sum() == 4


def test_pops_ranks_all_layers_together():
    # the head's weights are all smaller than the first layer's: global ranking takes them,
    # but for the one a layer keeps at least
    mlp = tiny([[[5.0, 6.0], [7.0, 8.0]], [[0.1, 0.2], [0.3, 0.4]]])
    prune(mlp, PruningSpec(method="pops", schedule=ONE_STEP), 2)
    assert mlp.hidden[0].weight_mask.sum() == 4
    assert mlp.head.weight_mask.tolist() == [[0.0, 0.0], [0.0, 1.0]]


def test_sgs_penalizes_and_prunes_the_first_layer_only():
    torch.manual_seed(0)
    mlp = MaskedMLP(2, [3, 4], 2)
    with torch.no_grad():
        mlp.hidden[0].weight.copy_(torch.tensor([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]]))
    assert sgs_penalty(mlp).item() == pytest.approx(5 + 1 + 10, rel=1e-6)
    spec = PruningSpec(
        method="sgs", lam=1e-3, schedule=PruningSchedule(0.34, start_iter=1, end_iter=2)
    )
    prune(mlp, spec, 2)
    assert mlp.hidden[0].mask.tolist() == [1.0, 0.0, 1.0]  # the smallest row norm goes
    assert mlp.hidden[1].mask.sum() == 4


def test_hard_concrete_gate_values():
    a = torch.tensor([-3.0, 0.0, 3.0])
    # sigmoid(a) * 1.2 - 0.1 clipped to [0, 1]
    assert deterministic_gates(a).tolist() == pytest.approx([0.0, 0.5, 1.0])
    # sigmoid(a - (2/3) * log(0.1 / 1.1)); at a = 0: sigmoid(1.59859) = 0.83183
    assert prob_nonzero(torch.tensor(0.0)).item() == pytest.approx(0.83183, abs=1e-5)
    torch.manual_seed(0)
    z = sample_gates(torch.zeros(100_000))
    assert z.min() >= 0 and z.max() <= 1
    # a sample is exactly 0 with probability 1 - P(z != 0)
    assert float((z == 0).float().mean()) == pytest.approx(1 - 0.83183, abs=0.01)
    assert sample_gates(torch.full((10,), 20.0)).tolist() == [1.0] * 10


def test_l0_penalty_counts_expected_open_gates_of_live_neurons():
    mlp = MaskedMLP(2, [3], 2, gates="neuron")
    with torch.no_grad():
        mlp.hidden[0].log_alpha.copy_(torch.tensor([0.0, 0.0, 50.0]))
    assert l0_penalty(mlp).item() == pytest.approx(2 * 0.83183 + 1.0, abs=1e-4)
    mlp.hidden[0].mask[2] = 0.0
    assert l0_penalty(mlp).item() == pytest.approx(2 * 0.83183, abs=1e-4)
    l0_penalty(mlp).backward()  # d/da sigmoid(a - c) = p (1 - p)
    assert mlp.hidden[0].log_alpha.grad[0].item() == pytest.approx(0.83183 * 0.16817, abs=1e-4)


@pytest.mark.parametrize("gates,unit", [("neuron", "neurons"), ("weight", "weights")])
def test_l0_prunes_the_least_likely_gates(gates, unit):
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [8, 8], 2, gates=gates)
    with torch.no_grad():
        for layer in mlp.linears:
            if layer.log_alpha is not None:
                layer.log_alpha.copy_(torch.randn_like(layer.log_alpha))
    scores = [s.clone() for s in gate_importances(mlp)]
    spec = PruningSpec(method="l0", lam=1e-3, schedule=ONE_STEP)
    assert spec.unit(mlp) == unit
    prune(mlp, spec, 2)
    masks = mlp.masks if gates == "neuron" else mlp.weight_masks
    for score, mask in zip(scores, masks):
        assert int(mask.sum()) == score.numel() - score.numel() // 2
        assert score[mask == 0].max() <= score[mask == 1].min()


def test_l0_without_gates_is_a_clear_error():
    with pytest.raises(ValueError, match="gates"):
        prune(MaskedMLP(2, [4], 2), PruningSpec(method="l0", schedule=ONE_STEP), 2)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("gates", [None, "neuron", "weight"])
def test_compaction_is_exact_with_weight_masks_and_gates(activation, gates):
    """Random 90% weight masks leave dead neurons (no inputs or no outputs); compaction
    removes them and the outputs stay the same."""
    g = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    mlp = MaskedMLP(6, [32, 16], 3, activation, gates=gates)
    with torch.no_grad():
        for layer in mlp.linears:
            layer.weight_mask.copy_((torch.rand(layer.weight.shape, generator=g) > 0.9).float())
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
            if layer.log_alpha is not None:
                layer.log_alpha.copy_(torch.randn(layer.log_alpha.shape, generator=g) * 3)
        mlp.hidden[1].mask[:4] = 0
    net = compact(mlp)
    assert sum(net.hidden_sizes) < 48 - 4
    assert dead_neurons(mlp, size_of(mlp)) == 44 - sum(net.hidden_sizes)
    x = torch.randn(300, 6, generator=g) * 3
    with torch.no_grad():
        assert torch.allclose(net(x), mlp(x), rtol=1e-5, atol=1e-5)


def test_a_neuron_without_inputs_becomes_a_bias():
    mlp = MaskedMLP(2, [2], 1, "sigmoid")
    with torch.no_grad():
        mlp.hidden[0].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        mlp.hidden[0].bias.copy_(torch.tensor([0.0, 1.0]))
        mlp.hidden[0].weight_mask[1] = 0.0  # neuron 1 outputs sigmoid(1) whatever the input
        mlp.head.weight.copy_(torch.tensor([[2.0, 3.0]]))
        mlp.head.bias.fill_(0.5)
    net = compact(mlp)
    assert net.hidden_sizes == [1]
    assert net.head.bias.item() == pytest.approx(0.5 + 3 * torch.sigmoid(torch.tensor(1.0)).item())
    assert size_of(mlp).weights == 2 + 1


def test_rank_for_energy():
    s = torch.tensor([3.0, 2.0, 1.0])  # energies 9/14, 13/14, 14/14
    assert [rank_for_energy(s, e) for e in (0.5, 9 / 14, 0.9, 0.95, 1.0)] == [1, 1, 2, 3, 3]


def test_low_rank_keeps_a_low_rank_layer_exactly_and_counts_its_factors():
    torch.manual_seed(0)
    mlp = MaskedMLP(8, [64, 64], 2)
    with torch.no_grad():  # the middle layer has rank 3
        mlp.hidden[1].weight.copy_(torch.randn(64, 3) @ torch.randn(3, 64) * 0.1)
    net = low_rank(compact(mlp), energy=0.999999)
    assert net.ranks == [None, 3, None]  # 8x64 and 64x2 would not get cheaper
    size = size_of_compact(net)
    assert size.weights == 8 * 64 + 3 * (64 + 64) + 64 * 2
    x = torch.randn(50, 8)
    with torch.no_grad():
        assert torch.allclose(net(x), mlp(x), atol=1e-5)


def test_l0_ships_low_rank_and_the_others_full_rank():
    torch.manual_seed(0)
    mlp = MaskedMLP(8, [64, 64], 2, gates="neuron")
    with torch.no_grad():
        mlp.hidden[1].weight.copy_(torch.randn(64, 2) @ torch.randn(2, 64))
    assert deployable(mlp, PruningSpec(method="l0", schedule=ONE_STEP)).ranks[1] == 2
    assert deployable(mlp, PruningSpec(method="dsp", schedule=ONE_STEP)).ranks == [None] * 3


def test_distillation_loss():
    teacher = torch.tensor([[0.0, 0.0]])
    student = torch.tensor([[math.log(3.0), 0.0]])  # probabilities 3/4, 1/4
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert distillation_loss(student, teacher, False).item() == pytest.approx(expected)
    assert distillation_loss(teacher, teacher, False).item() == pytest.approx(0.0)
    assert distillation_loss(student, teacher, True).item() == pytest.approx(math.log(3) ** 2 / 2)


def test_dropout_rate_acts_in_training_passes_only():
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [64], 2, dropout_rate=0.5)
    x = torch.randn(10, 4)
    with torch.no_grad():
        assert torch.equal(mlp(x), mlp(x))
        assert not torch.allclose(mlp(x, stochastic=True), mlp(x))


def test_weight_magnitudes_ignore_pruned_weights():
    mlp = tiny([[[1.0, -2.0], [0.5, 0.0]], [[-3.0, 1.0], [0.0, 4.0]]])
    mlp.hidden[0].weight_mask[0, 1] = 0
    assert weight_magnitudes(mlp, None)[0].tolist() == [[1.0, 0.0], [0.5, 0.0]]

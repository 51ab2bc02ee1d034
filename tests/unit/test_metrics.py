import torch

from rayprune.pruning import MaskedMLP, compact, dense_size, dense_size_of, size_of, size_of_compact
from rayprune.pruning.metrics import count_flops, count_neurons, count_weights


def test_dense_paper_actor_size_by_hand():
    size = dense_size(4, [128, 128], 2)
    assert size.neurons == 256
    assert size.weights == 4 * 128 + 128 * 128 + 128 * 2  # 17152
    assert size.flops == 7 * 128 + 255 * 128 + 255 * 2  # 34046


def test_sparse_matrix_counts_by_hand():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])  # 4 of 8 nonzero
    assert count_weights([w]) == 4
    assert count_flops([w]) == 6  # 0.5 * (2*2 - 1) * 4
    assert count_neurons([torch.tensor([1.0, 0.0, 1.0])]) == [2]


def test_masked_size_is_the_compact_size():
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [8, 8], 2)
    mlp.hidden[0].mask[:5] = 0
    mlp.hidden[1].mask[2:] = 0
    size = size_of(mlp)
    assert size == size_of_compact(compact(mlp))
    assert size.neurons_per_layer == [3, 2]
    assert size.weights == 4 * 3 + 3 * 2 + 2 * 2
    assert size.flops == 7 * 3 + 5 * 2 + 3 * 2
    assert size.neuron_sparsity(dense_size_of(mlp)) == 1 - 5 / 16

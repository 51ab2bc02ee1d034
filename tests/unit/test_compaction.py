import pytest
import torch

from rayprune.pruning import ACTIVATIONS, MaskedMLP, compact


def random_masks(mlp: MaskedMLP, sparsity: float, generator: torch.Generator) -> None:
    for layer in mlp.hidden:
        n = layer.out_features
        keep = max(1, round(n * (1 - sparsity)))
        mask = torch.zeros(n)
        mask[torch.randperm(n, generator=generator)[:keep]] = 1.0
        layer.mask.copy_(mask)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.93])
@pytest.mark.parametrize("hidden", [[128, 128], [32, 17, 9]])
def test_compact_network_equals_masked_network(activation, sparsity, hidden):
    generator = torch.Generator().manual_seed(len(hidden) * 1000 + int(sparsity * 100))
    torch.manual_seed(generator.initial_seed())
    mlp = MaskedMLP(6, hidden, 3, activation)
    random_masks(mlp, sparsity, generator)
    net = compact(mlp)
    assert net.hidden_sizes == [int(m.sum()) for m in mlp.masks]
    x = torch.randn(257, 6, generator=generator) * 3
    with torch.no_grad():
        assert torch.allclose(net(x), mlp(x), rtol=1e-5, atol=1e-6)


def test_compaction_is_exact_in_float64():
    torch.manual_seed(3)
    mlp = MaskedMLP(4, [64, 64], 2, "relu").double()
    random_masks(mlp, 0.9, torch.Generator().manual_seed(3))
    x = torch.randn(100, 4, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(compact(mlp).double()(x), mlp(x), rtol=0, atol=1e-12)


def test_compaction_copies_kept_rows_and_columns():
    mlp = MaskedMLP(2, [3], 1)
    mlp.hidden[0].mask.copy_(torch.tensor([1.0, 0.0, 1.0]))
    net = compact(mlp)
    assert torch.equal(net.hidden[0].weight, mlp.hidden[0].weight[[0, 2]])
    assert torch.equal(net.hidden[0].bias, mlp.hidden[0].bias[[0, 2]])
    assert torch.equal(net.head.weight, mlp.head.weight[:, [0, 2]])
    assert torch.equal(net.head.bias, mlp.head.bias)

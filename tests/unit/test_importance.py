import torch

from rayprune.pruning import (
    MaskedMLP,
    add_dsp_penalty_grad,
    dsp_penalty,
    layer_importances,
    neuron_importance,
)

W1 = torch.tensor(
    [[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]]
)  # 3 neurons x 2 inputs: row sums of squares 5, 1, 9
W2 = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]])  # 2 outputs x 3 neurons: column sums 2, 1, 4


def test_importance_is_fan_in_times_fan_out_times_mask():
    omega = neuron_importance(W1, W2, torch.tensor([1.0, 1.0, 0.0]))
    assert omega.tolist() == [10.0, 1.0, 0.0]


def small_mlp() -> MaskedMLP:
    mlp = MaskedMLP(2, [3], 2)
    with torch.no_grad():
        mlp.hidden[0].weight.copy_(W1)
        mlp.head.weight.copy_(W2)
    return mlp


def test_penalty_sums_importance_over_layers():
    mlp = small_mlp()
    assert dsp_penalty(mlp).item() == 10.0 + 1.0 + 36.0
    mlp.hidden[0].mask[2] = 0.0
    assert [o.tolist() for o in layer_importances(mlp)] == [[10.0, 1.0, 0.0]]
    assert dsp_penalty(mlp).item() == 11.0


def test_penalty_gradient_reaches_both_layers():
    mlp = small_mlp()
    dsp_penalty(mlp).backward()
    # d/dW1[i,j] = 2 W1[i,j] * fan_out_i ; d/dW2[k,i] = 2 W2[k,i] * fan_in_i
    fan_in = torch.tensor([5.0, 1.0, 9.0])
    fan_out = torch.tensor([2.0, 1.0, 4.0])
    assert torch.equal(mlp.hidden[0].weight.grad, 2 * W1 * fan_out[:, None])
    assert torch.equal(mlp.head.weight.grad, 2 * W2 * fan_in[None, :])


def test_two_hidden_layers_use_next_layer_as_fan_out():
    mlp = MaskedMLP(2, [3, 2], 1)
    omegas = layer_importances(mlp)
    w = [layer.weight.detach() for layer in mlp.linears]
    expected0 = w[0].pow(2).sum(1) * w[1].pow(2).sum(0)
    expected1 = w[1].pow(2).sum(1) * w[2].pow(2).sum(0)
    assert torch.allclose(omegas[0], expected0) and torch.allclose(omegas[1], expected1)


def test_closed_form_gradient_is_the_hand_computed_one():
    mlp = small_mlp()
    for layer in mlp.linears:
        layer.weight.grad = torch.ones_like(layer.weight)
    add_dsp_penalty_grad(mlp, 0.5)
    fan_in = torch.tensor([5.0, 1.0, 9.0])
    fan_out = torch.tensor([2.0, 1.0, 4.0])
    assert torch.equal(mlp.hidden[0].weight.grad, 1 + W1 * fan_out[:, None])
    assert torch.equal(mlp.head.weight.grad, 1 + W2 * fan_in[None, :])


def test_closed_form_gradient_matches_autograd_with_masks_and_three_layers():
    torch.manual_seed(0)
    mlp = MaskedMLP(5, [7, 6, 4], 3)
    mlp.hidden[0].mask[[1, 4]] = 0.0
    mlp.hidden[2].mask[0] = 0.0
    (0.3 * dsp_penalty(mlp)).backward()
    autograd = [layer.weight.grad.clone() for layer in mlp.linears]
    for layer in mlp.linears:
        layer.weight.grad.zero_()
    add_dsp_penalty_grad(mlp, 0.3)
    for expected, layer in zip(autograd, mlp.linears):
        assert torch.allclose(layer.weight.grad, expected, rtol=1e-5, atol=1e-7)

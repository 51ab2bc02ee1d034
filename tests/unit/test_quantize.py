"""int8 post-training quantization (rayprune.policy.quantize): the per-row scales by hand, the
error bound that rounding implies, and the bias correction, against torch's float forward.
The int8 C against this NumPy reference is in test_c_export.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayprune.policy.quantize import QuantizedMLP, quantize_int8
from rayprune.pruning.compaction import CompactMLP
from tests.unit.nets import ACTIVATIONS, ATOL, observations, random_net, torch_out

LIPSCHITZ = {"tanh": 1.0, "relu": 1.0, "elu": 1.0, "silu": 1.1, "sigmoid": 0.25}


def int8_error_bound(net: CompactMLP, quantized: QuantizedMLP, x: np.ndarray) -> np.ndarray:
    """Per observation and output, in float64: e_out <= L (|W^| e_in + |W^ - W| |x| + |b^ - b|)
    layer by layer (L the activation's Lipschitz constant, 1 after the head), where W^ = s q
    and b^ the corrected bias; x runs through the float network."""
    layers = []
    for layer in net.linears:
        layers += [layer.down, layer.up] if hasattr(layer, "down") else [layer]
    x, error = x.astype(np.float64), np.zeros_like(x, dtype=np.float64)
    for layer, q in zip(layers, quantized.matmuls):
        w = layer.weight.detach().double().numpy()
        w_hat = q.weight.astype(np.float64) * q.scale.astype(np.float64)[:, None]
        b = layer.bias.detach().double().numpy() if layer.bias is not None else 0.0
        b_hat = q.bias.astype(np.float64) if q.bias is not None else 0.0
        error = error @ np.abs(w_hat).T + np.abs(x) @ np.abs(w_hat - w).T + np.abs(b_hat - b)
        x = x @ w.T + b
        if q.activate:
            error = error * LIPSCHITZ[net.activation]
            x = torch_activation(net, x)
    return error


def torch_activation(net: CompactMLP, x: np.ndarray) -> np.ndarray:
    return net.act(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_int8_error_stays_within_its_rounding_bound(activation):
    """Rounding moves each weight by at most half its row's step, s_i / 2 = max_j |W_ij| / 254;
    propagated through the layers, that bounds every output's error (int8_error_bound; the
    errors measured reach 10-40% of it). On average the error is far smaller: the weights'
    errors (<= 0.4% of their row's largest) have random signs and mostly cancel in the sums,
    measured 0.02-0.03% of the largest |output|; asserted under 0.1%."""
    net = random_net(activation, seed=21, ranks=[None, 3, 1] if activation == "tanh" else None)
    x = observations(6, seed=22)
    quantized = quantize_int8(net, x[:5000])
    for m in quantized.matmuls:  # every row uses the full int8 range
        assert m.weight.dtype == np.int8 and np.all(np.abs(m.weight).max(axis=1) == 127)
    error = np.abs(quantized.forward(x).astype(np.float64) - torch_out(net, x))
    assert np.all(error <= int8_error_bound(net, quantized, x) + ATOL)
    spread = np.abs(torch_out(net, x)).max()
    assert error.mean() <= 0.001 * spread


def test_int8_rows_get_their_own_scale():
    """Hand-computed: s_i = max_j |W_ij| / 127, q = round(W / s); an all-zero row stays 0."""
    net = CompactMLP(3, [], 3).eval()
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[0.5, -1.27, 0.0], [2.54, 1.0, -0.3], [0.0, 0.0, 0.0]]))
        net.head.bias.zero_()
    quantized = quantize_int8(net, np.zeros((1, 3), dtype=np.float32))
    (head,) = quantized.matmuls
    assert head.weight.tolist() == [[50, -127, 0], [127, 50, -15], [0, 0, 0]]
    assert np.allclose(head.scale, [0.01, 0.02, 0.0], rtol=1e-6, atol=0)
    assert head.scale.dtype == np.float32


def test_int8_bias_correction_centres_the_error_on_the_calibration_set():
    """After correction the output error averages to zero over the calibration observations
    (up to float32 rounding): the head is linear, so its corrected bias absorbs the mean."""
    net = random_net("tanh", seed=31)
    x = observations(6, seed=32, n=4000) + 0.5  # a non-zero mean makes the shift visible
    quantized = quantize_int8(net, x)
    mean_error = (quantized.forward(x).astype(np.float64) - torch_out(net, x)).mean(axis=0)
    assert np.abs(mean_error).max() <= 1e-6


def test_calibration_needs_finite_observations():
    with pytest.raises(ValueError, match="finite"):
        quantize_int8(random_net("tanh", 0), np.full((4, 6), np.nan, dtype=np.float32))

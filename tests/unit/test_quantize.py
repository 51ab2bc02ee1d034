"""Integer int8 quantization (rayprune.policy.quantize): its pieces computed by hand. The int8
C against an integer NumPy reference, and its return against float: test_c_int8.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayprune.policy.quantize import (
    affine_for_range,
    quantize_int8,
    quantize_rows,
    quantized_multiplier,
)
from rayprune.pruning.compaction import CompactMLP
from tests.unit.nets import ACTIVATIONS, observations, random_net


def test_int8_rows_get_their_own_scale():
    """s_i = max_j |W_ij| / 127, q = round(W / s); an all-zero row stays 0 and borrows the
    largest row's scale (its bias still needs one)."""
    weight = np.array([[0.5, -1.27, 0.0], [2.54, 1.0, -0.3], [0.0, 0.0, 0.0]])
    q, scale = quantize_rows(weight)
    assert q.dtype == np.int8
    assert q.tolist() == [[50, -127, 0], [127, 50, -15], [0, 0, 0]]
    assert np.allclose(scale, [0.01, 0.02, 0.02], rtol=1e-12, atol=0)


def test_affine_for_range_holds_zero_exactly():
    """[-1, 3]: s = 4/255, z = round(-128 + 63.75) = -64; [0.5, 2] widens to [0, 2]: z = -128;
    [-2, -1] to [-2, 0]: z = 127; an empty range gets MIN_RANGE."""
    for lo, hi, scale, zero in (
        (-1, 3, 4 / 255, -64),
        (0.5, 2, 2 / 255, -128),
        (-2, -1, 2 / 255, 127),
    ):
        affine = affine_for_range(lo, hi)
        assert (affine.scale, affine.zero_point) == (pytest.approx(scale), zero)
    assert affine_for_range(0.0, 0.0).scale == pytest.approx(1e-6 / 255)
    assert affine_for_range(-1.0, 1.0, finest=0.1).scale == 0.1


def test_quantized_multiplier_by_hand():
    """0.3 = 0.6 2^-1: shift 32, m = round(0.3 2^32) = round(1288490188.8) = 1288490189; 0.15
    shares the shift: round(644245094.4) = 644245094. 0.75: shift 31, m = 0.75 2^31."""
    r = quantized_multiplier(np.array([0.3, 0.15]))
    assert (r.shift, r.multiplier.tolist()) == (32, [1288490189, 644245094])
    r = quantized_multiplier(np.array([0.75]))
    assert (r.shift, r.multiplier.tolist()) == (31, [1610612736])
    tiny = quantized_multiplier(np.array([2.0**-40]))
    assert (tiny.shift, tiny.multiplier.tolist()) == (62, [2**22])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_hidden_stage_requantizes_with_an_int32_multiplier_below_one(activation):
    """Ranks [None, 3, 1]: stages 6-12 (activated), 12-3 (down), 3-7 (up, activated), 7-1
    (down), 1-3 (the head); the down factors have no table."""
    net = random_net(activation, seed=21, ranks=[None, 3, 1])
    quantized = quantize_int8(net, observations(6, seed=22, n=2000))
    *hidden, head = quantized.matmuls
    assert head.requantize is None and head.table is None
    assert [m.table is not None for m in hidden] == [True, False, True, False]
    for m in hidden:
        assert m.weight.dtype == np.int8 and m.bias.dtype == np.int32
        r = m.requantize
        assert 31 <= r.shift <= 62 and (r.multiplier < 2**31).all() and (r.multiplier > 0).all()


def test_tanh_table_is_tflites_fixed_output_on_a_fixed_input_range():
    """Pre-activation [-3.5, 3.5]: s = 7/255, z = 0; output 1/128, z 0: T[q + 128] =
    clamp(round(128 tanh(7 q / 255)))."""
    net = CompactMLP(2, [3, 3], 1, "tanh").eval()
    quantized = quantize_int8(net, observations(2, seed=0, n=100))
    tables = [m.table for m in quantized.matmuls if m.table is not None]
    q = np.arange(-128, 128)
    expected = np.clip(np.rint(128 * np.tanh(7 * q / 255)), -128, 127)
    for table in tables:
        assert table.tolist() == expected.tolist()


def test_calibration_needs_finite_observations():
    with pytest.raises(ValueError, match="finite"):
        quantize_int8(random_net("tanh", 0), np.full((4, 6), np.nan, dtype=np.float32))


def test_a_bias_too_large_for_int32_is_refused():
    net = CompactMLP(1, [], 1).eval()
    with torch.no_grad():
        net.head.weight.fill_(1e-9)
        net.head.bias.fill_(1e6)
    with pytest.raises(ValueError, match="int32"):
        quantize_int8(net, np.array([[0.0], [1.0]], dtype=np.float32))

"""Post-training int8 quantization of a CompactMLP's weights, and its NumPy reference forward.

Scheme: symmetric, per output neuron. Row i of each weight matrix W is stored as int8
q_i = round(W_i / s_i) with s_i = max_j |W_ij| / 127 (s_i = 0 and q_i = 0 for an all-zero row),
and the layer computes y_i = s_i * sum_j q_ij x_j + b_i, accumulating int8 weight times float
activation in float32 (the float-accumulation choice). Activations stay float, so the only error
is the weights' rounding, |W_ij - s_i q_ij| <= s_i / 2 (1/254 of the row's largest weight):
no activation scale can saturate on observations unlike the calibration set, which int32
accumulation with calibrated per-layer activation scales would risk, and the int8 C differs
from the float C by one multiply per output.

Calibration: rounding biases each output's mean by sum_j (W_ij - s_i q_ij) E[x_j]. The
calibration observations estimate that shift layer by layer, on the quantized network's own
inputs (so it includes every upstream layer's shift), and the bias absorbs it (bias correction,
Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias Correction").
A low-rank layer's down factor has no bias; its shift, linear through up, is corrected in up's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from rayprune.policy.c_export import matmuls
from rayprune.pruning.compaction import CompactMLP

INT8_MAX = 127


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """0.5 + 0.5 tanh(x / 2): the C's formula, and no overflow in exp for large |x|."""
    return np.float32(0.5) + np.float32(0.5) * np.tanh(np.float32(0.5) * x)


def _silu(x: np.ndarray) -> np.ndarray:
    """x / (1 + exp(-x)), as the C computes it; exp(-x) = inf for x << 0 gives -0."""
    with np.errstate(over="ignore"):
        return x / (np.float32(1.0) + np.exp(-x))


NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.where(x < 0, np.float32(0.0), x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "silu": _silu,
    "sigmoid": _sigmoid,
}


@dataclass(frozen=True)
class QuantizedMatmul:
    """y = scale * (weight @ x) + bias, then the activation if `activate`."""

    weight: np.ndarray  # int8 [out, in]
    scale: np.ndarray  # float32 [out], one per row
    bias: np.ndarray | None  # float32 [out]; None for a LowRankLinear's down factor
    activate: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [batch, in] float32 -> [batch, out]: int8 weights times float, float32 sums."""
        y = (x @ self.weight.T.astype(np.float32)) * self.scale
        return y if self.bias is None else y + self.bias


@dataclass(frozen=True)
class QuantizedMLP:
    """The int8 network: what the int8 C computes, as NumPy (the tests' reference)."""

    matmuls: tuple[QuantizedMatmul, ...]
    activation: str

    @property
    def obs_dim(self) -> int:
        return self.matmuls[0].weight.shape[1]

    @property
    def out_dim(self) -> int:
        return self.matmuls[-1].weight.shape[0]

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """obs [batch, obs_dim] -> outputs [batch, out_dim], float32."""
        x = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        act = NUMPY_ACTIVATIONS[self.activation]
        for m in self.matmuls:
            x = m(x)
            if m.activate:
                x = act(x).astype(np.float32, copy=False)
        return x


def quantize_rows(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, s): s_i = max_j |W_ij| / 127, q_ij = round(W_ij / s_i) (half to even), int8 in
    [-127, 127]; an all-zero row gets s_i = 0, q_i = 0."""
    weight = np.asarray(weight, dtype=np.float32)
    scale = np.abs(weight).max(axis=1) / np.float32(INT8_MAX)
    safe = np.where(scale > 0, scale, np.float32(1.0))[:, None]
    q = np.clip(np.rint(weight / safe), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale.astype(np.float32)


def quantize_int8(net: CompactMLP, calibration_obs: np.ndarray) -> QuantizedMLP:
    """Per-row symmetric int8 weights, biases corrected by the mean shift that rounding causes
    on `calibration_obs` (rows of real observations, e.g. from evaluation episodes)."""
    stages = matmuls(net)
    obs_dim = stages[0].weight.shape[1]
    obs = np.asarray(calibration_obs, dtype=np.float32).reshape(-1, obs_dim)
    if len(obs) == 0 or not np.isfinite(obs).all():
        raise ValueError("calibration needs at least one observation, all finite")
    if net.activation not in NUMPY_ACTIVATIONS:
        raise ValueError(f"cannot quantize activation {net.activation!r}")
    act = NUMPY_ACTIVATIONS[net.activation]
    exact, approx = obs, obs  # each layer's input in the float and the quantized network
    quantized = []
    for m in stages:
        q = QuantizedMatmul(*quantize_rows(m.weight), m.bias, m.activate)
        exact = exact @ m.weight.T if m.bias is None else exact @ m.weight.T + m.bias
        approx_out = q(approx)
        if m.bias is not None:
            shift = (exact - approx_out).mean(axis=0, dtype=np.float64)
            q = replace(q, bias=(m.bias + shift).astype(np.float32))
            approx_out = q(approx)
        if m.activate:
            exact, approx_out = act(exact), act(approx_out)
        approx = approx_out.astype(np.float32, copy=False)
        quantized.append(q)
    return QuantizedMLP(tuple(quantized), net.activation)

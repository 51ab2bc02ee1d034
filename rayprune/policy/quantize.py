"""Post-training integer-only int8 quantization of a CompactMLP: what the int8 C computes.

Scheme (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", as TFLite's int8 spec and CMSIS-NN implement it). A real
value r is stored as int8 q with r = s (q - z), scale s and zero point z:

- weights: symmetric per output neuron, s_w,i = max_j |W_ij| / 127, Q_ij = round(W_ij / s_w,i)
  in [-127, 127], zero point 0;
- the observation (the input edge, float): one scale and zero point per input, calibrated on
  its range over the calibration observations; each input's scale is folded into the first
  weight matrix's column (W_ij s_j is what gets quantized per row), so inputs as different as
  CartPole's angle and velocity each use the full int8 range;
- hidden tensors: one scale and zero point per tensor, from the calibrated range [lo, hi]
  widened to hold 0 (s = (hi - lo) / 255, z = round(-128 - lo / s));
- a matmul: acc_i = B_i + sum_j Q_ij q_j in int32, with the bias at the accumulator's scale
  s_in s_w,i and the input's zero point folded in, B_i = round(b_i / (s_in s_w,i)) -
  sum_j Q_ij z_j;
- requantization to the next int8 tensor (s_out, z_out): y_i = clamp(z_out + round(acc_i M_i),
  -128, 127) with M_i = s_in s_w,i / s_out = m_i 2^-shift, m_i an int32 and one shift per layer
  (the largest M_i's mantissa in [2^30, 2^31), gemmlowp's QuantizeMultiplier), rounded once,
  half up: (acc m + 2^(shift - 1)) >> shift in int64 (CMSIS-NN's arm_nn_requantize with
  CMSIS_NN_USE_SINGLE_ROUNDING; TFLite's TFLITE_SINGLE_ROUNDING). The output scale is kept
  coarser than the accumulator's (M_i < 1, shift >= 31), so the result always fits an int32;
- the activation: a 256-entry int8 table indexed by the requantized pre-activation,
  T[q + 128] = clamp(round(f(s_pre (q - z_pre)) / s_post) + z_post), built here from the float
  function. tanh and sigmoid outputs have TFLite's fixed quantizations (1/128, 0) and
  (1/256, -128), and their pre-activations a fixed one too, the interval beyond which the int8
  output saturates (+-3.5 for tanh, +-7 for sigmoid): every layer then shares one 256-byte
  table, a quarter of a 4-9-9-2 policy's flash each otherwise;
- the head's accumulators leave as float (the output edge): out_i = float(acc_i) s_in s_w,i.

Ranges are calibrated on the float network's own values for the calibration observations
(min and max, TFLite's post-training default).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rayprune.policy.matmul import Matmul, matmuls
from rayprune.policy.normalization import ObsNormalization
from rayprune.pruning.compaction import CompactMLP

INT8_MIN, INT8_MAX = -128, 127
TABLE_SIZE = 256
SHIFT_MIN, SHIFT_MAX = 31, 62  # M < 1, and acc m + 2^(shift - 1) < 2^63
MIN_RANGE = 1e-6  # a tensor that is 0 on every calibration observation still needs a scale


@dataclass(frozen=True)
class Affine:
    """An int8 tensor's quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


# TFLite's int8 output quantization of tanh and logistic; pre-activations beyond +-SATURATES
# give the same int8 output (round(128 tanh(3.5)) = 128 -> 127, round(256 sigmoid(-7)) = 0),
# so that interval is their pre-activations' fixed range
FIXED_OUTPUT = {"tanh": Affine(1 / 128, 0), "sigmoid": Affine(1 / 256, -128)}
SATURATES = {"tanh": 3.5, "sigmoid": 7.0}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """0.5 + 0.5 tanh(x / 2): no overflow in exp for large |x|."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _silu(x: np.ndarray) -> np.ndarray:
    """x / (1 + exp(-x)); exp(-x) = inf for x << 0 gives -0."""
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-x))


NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.where(x < 0, np.zeros_like(x), x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "silu": _silu,
    "sigmoid": _sigmoid,
}


@dataclass(frozen=True)
class InputEdge:
    """Observation -> int8, in float: q_j = clamp(floor((obs_j - offset_j) gain_j + 0.5) +
    zero_point_j, -128, 127), the observation's normalization folded into offset and gain."""

    offset: np.ndarray  # float32 [obs]
    gain: np.ndarray  # float32 [obs]
    zero_point: np.ndarray  # int32 [obs]


@dataclass(frozen=True)
class Requantize:
    """int32 accumulators -> int8: clamp(zero_point + (acc m_i + 2^(shift-1)) >> shift)."""

    multiplier: np.ndarray  # int32 [out], m_i
    shift: int
    zero_point: int


@dataclass(frozen=True)
class IntMatmul:
    """acc = bias + weight @ q (int32), then requantized (all but the head), then the table."""

    weight: np.ndarray  # int8 [out, in]
    bias: np.ndarray  # int32 [out]
    requantize: Requantize | None  # None for the head, whose accumulators leave as float
    table: np.ndarray | None  # int8 [256], the activation; None where there is none


@dataclass(frozen=True)
class QuantizedMLP:
    """The integer network: the input edge, the int8 matmuls, the head's output scales."""

    input: InputEdge
    matmuls: tuple[IntMatmul, ...]
    output_scale: np.ndarray  # float32 [out]: out_i = float(acc_i) * output_scale_i
    activation: str

    @property
    def obs_dim(self) -> int:
        return self.matmuls[0].weight.shape[1]


def quantize_rows(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, s): s_i = max_j |W_ij| / 127, q_ij = round(W_ij / s_i) (half to even), int8 in
    [-127, 127]. An all-zero row's q is 0 whatever its scale; it gets the largest row's (or
    1/127), because its bias still needs one."""
    weight = np.asarray(weight, dtype=np.float64)
    scale = np.abs(weight).max(axis=1) / INT8_MAX
    top = scale.max() if scale.size and scale.max() > 0 else 1.0 / INT8_MAX
    scale = np.where(scale > 0, scale, top)
    q = np.clip(np.rint(weight / scale[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale


def affine_for_range(lo: float, hi: float, finest: float = 0.0) -> Affine:
    """[lo, hi] widened to hold 0 and at least MIN_RANGE wide: s = (hi - lo) / 255, at least
    `finest`; z = round(-128 - lo / s), within int8."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max((max(hi - lo, MIN_RANGE)) / (INT8_MAX - INT8_MIN), finest)
    zero = int(np.clip(np.rint(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX))
    return Affine(scale, zero)


def quantized_multiplier(real: np.ndarray) -> Requantize:
    """M_i = m_i 2^-shift, one shift for the layer: the largest M's mantissa in [2^30, 2^31)
    (frexp, as gemmlowp's QuantizeMultiplier), m_i = round(M_i 2^shift); shift within
    [31, 62] (M < 1 by the output scale's choice)."""
    _, exponent = math.frexp(float(real.max()))  # max = f 2^e, f in [0.5, 1)
    shift = min(max(31 - exponent, SHIFT_MIN), SHIFT_MAX)
    m = np.rint(real * 2.0**shift)
    if m.max() >= 2**31:  # f rounded up to 1
        shift -= 1
        m = np.rint(real * 2.0**shift)
    return Requantize(m.astype(np.int32), shift, 0)


def _table(activation: str, pre: Affine) -> tuple[np.ndarray, Affine]:
    """The activation's int8 table over every pre-activation q in [-128, 127], and the
    output's quantization (fixed for tanh and sigmoid, else the range of the outputs)."""
    grid = pre.scale * (np.arange(INT8_MIN, INT8_MAX + 1) - pre.zero_point)
    values = NUMPY_ACTIVATIONS[activation](grid)
    post = FIXED_OUTPUT.get(activation) or affine_for_range(values.min(), values.max())
    table = np.clip(np.rint(values / post.scale) + post.zero_point, INT8_MIN, INT8_MAX)
    return table.astype(np.int8), post


def _input_edge(
    x: np.ndarray, normalization: ObsNormalization | None
) -> tuple[InputEdge, np.ndarray]:
    """Per-input quantization of the normalized observations x [rows, obs]: (the edge, the
    per-input scales to fold into the first weights)."""
    affines = [affine_for_range(col.min(), col.max()) for col in x.T]
    scales = np.array([a.scale for a in affines])
    zero = np.array([a.zero_point for a in affines], dtype=np.int32)
    if normalization is None:
        offset, std = np.zeros(len(scales)), np.ones(len(scales))
    else:
        offset = np.asarray(normalization.mean, np.float64)
        std = np.asarray(normalization.std, np.float32) + np.float32(normalization.eps)
    gain = 1.0 / (std.astype(np.float64) * scales)
    return InputEdge(offset.astype(np.float32), gain.astype(np.float32), zero), scales


def _matmul(
    m: Matmul, q: np.ndarray, s_acc: np.ndarray, zero_in: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(int32 bias at the accumulator's scale with the input zero points folded in, q)."""
    bias = np.zeros(len(q)) if m.bias is None else np.rint(m.bias.astype(np.float64) / s_acc)
    bias = bias - q.astype(np.int64) @ zero_in.astype(np.int64)
    if np.abs(bias).max(initial=0) >= 2**31 - 2**15 * q.shape[1]:
        raise ValueError("a bias is too large for an int32 accumulator at its weights' scale")
    return bias.astype(np.int32), q


def quantize_int8(
    net: CompactMLP, calibration_obs: np.ndarray, normalization: ObsNormalization | None = None
) -> QuantizedMLP:
    """The integer network of `net` for observations like `calibration_obs` (raw rows, e.g.
    from real episodes; normalized by `normalization` first when the policy is)."""
    stages = matmuls(net)
    obs = np.asarray(calibration_obs, dtype=np.float32).reshape(-1, stages[0].weight.shape[1])
    if len(obs) == 0 or not np.isfinite(obs).all():
        raise ValueError("calibration needs at least one observation, all finite")
    if net.activation not in NUMPY_ACTIVATIONS:
        raise ValueError(f"cannot quantize activation {net.activation!r}")
    x = obs if normalization is None else normalization.apply(torch.from_numpy(obs)).numpy()
    x = x.astype(np.float64)
    edge, in_scales = _input_edge(x, normalization)
    scale_in, zero_in = 1.0, edge.zero_point  # the first layer's weights carry the input scales
    quantized = []
    for k, m in enumerate(stages):
        weight = m.weight.astype(np.float64) * (in_scales if k == 0 else 1.0)
        q, s_w = quantize_rows(weight)
        s_acc = scale_in * s_w
        bias, q = _matmul(m, q, s_acc, zero_in)
        x = x @ m.weight.T.astype(np.float64) + (0.0 if m.bias is None else m.bias)
        if k == len(stages) - 1:
            quantized.append(IntMatmul(q, bias, None, None))
            output_scale = s_acc.astype(np.float32)
            break
        lo, hi = x.min(), x.max()
        if m.activate and net.activation in SATURATES:  # one table for every layer
            lo, hi = -SATURATES[net.activation], SATURATES[net.activation]
        pre = affine_for_range(lo, hi, finest=float(s_acc.max()) * (1 + 1e-6))
        requantize = quantized_multiplier(s_acc / pre.scale)
        requantize = Requantize(requantize.multiplier, requantize.shift, pre.zero_point)
        table, post = _table(net.activation, pre) if m.activate else (None, pre)
        quantized.append(IntMatmul(q, bias, requantize, table))
        if m.activate:
            x = NUMPY_ACTIVATIONS[net.activation](x)
        scale_in, zero_in = post.scale, np.full(len(q), post.zero_point)
    return QuantizedMLP(edge, tuple(quantized), output_scale, net.activation)

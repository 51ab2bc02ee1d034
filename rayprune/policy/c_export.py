"""C99 source for a compact policy: `policy.h` and `policy.c`, with float32 or int8 weights.

The generated code allocates nothing and has no writable globals: weights, biases and scales
are `static const` arrays, activations live in stack buffers. It needs no library but libm, and
that only for elu (expm1f) and silu (expf), and compiles clean with
`gcc -std=c99 -O2 -Wall -Wextra -Werror -pedantic`. In an ISO mode (-std=c99) GCC fuses no
multiply-adds, so the outputs are the same at any -O level and -march; -std=gnu99 may fuse
them, changing outputs by float32 rounding only. The API is the same for both weight types,
so one caller compiles against either:

    #define RAYPRUNE_OBS_DIM n        the flattened observation, row-major
    #define RAYPRUNE_OUT_DIM m        what policy.onnx outputs: logits (Discrete,
                                      MultiDiscrete), means (Box)
    #define RAYPRUNE_DISCRETE 1       or RAYPRUNE_BOX 1 or RAYPRUNE_MULTI_DISCRETE 1 (with
                                      RAYPRUNE_ACT_DIM and RAYPRUNE_ACT_NVEC {n1, n2, ...}):
                                      which act function exists
    void rayprune_forward(const float *obs, float *out);
    int rayprune_act_discrete(const float *obs);              argmax, first index on ties
    void rayprune_act_box(const float *obs, float *action);   means clipped to the Box bounds
    void rayprune_act_multi_discrete(const float *obs, int *action);  an argmax per sub-action

A policy trained on normalized observations normalizes them itself first (MeanStdFilter's
formula with the frozen statistics), so the C takes raw observations like policy.onnx.

Weight matrices are stored transposed (input-major), so that the inner loop runs over a
layer's outputs: independent sums that a compiler vectorizes, each still summed in input order.
tanh is Eigen's float rational approximation (odd degree 13 over even degree 6, the input
clamped to +-7.90531110763549805, where it reaches 1.0f; max abs error 3.95e-7 on [-20, 20]):
glibc's tanhf alone costs several times a whole 4-9-9-2 forward pass. sigmoid(x) = 0.5 + 0.5
tanh(x / 2) reuses it.

The C is generated here rather than by onnx2c or emlearn: emlearn 0.23 (pip) supports only
identity/relu/logistic/softmax/tanh MLPs, no low-rank factors, and keeps its activations in
writable static buffers; onnx2c is a separate C++ build; either would be a dependency for ~150
lines of straightforward generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from rayprune.policy.json_numbers import number_from_json
from rayprune.policy.normalization import ObsNormalization
from rayprune.pruning.compaction import CompactMLP, LowRankLinear

if TYPE_CHECKING:
    from rayprune.policy.quantize import QuantizedMatmul, QuantizedMLP

C_DIR = "c"
HEADER_FILE = "policy.h"
SOURCE_FILE = "policy.c"
VALUES_PER_LINE = 6

TANH_C = """\
/* tanh: Eigen's float rational approximation, p(x) / q(x) with p odd of degree 13 and q even of
   degree 6, on x clamped to +-7.90531110763549805f, where p / q reaches 1.0f */
static float rayprune_tanh(float x)
{
    float x2, p, q;
    if (x > 7.90531110763549805f) {
        x = 7.90531110763549805f;
    }
    if (x < -7.90531110763549805f) {
        x = -7.90531110763549805f;
    }
    x2 = x * x;
    p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = x2 * p - 8.60467152213735e-11f;
    p = x2 * p + 5.12229709037114e-08f;
    p = x2 * p + 1.48572235717979e-05f;
    p = x2 * p + 6.37261928875436e-04f;
    p = x2 * p + 4.89352455891786e-03f;
    p = x * p;
    q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = x2 * q + 2.26843463243900e-03f;
    q = x2 * q + 4.89352518554385e-03f;
    return p / q;
}
"""

# The body of `static float rayprune_activation(float x)` per activation. relu tests x < 0 so
# that a NaN passes through as in torch; elu and silu call libm.
ACTIVATION_C: dict[str, str] = {
    "tanh": "return rayprune_tanh(x);",
    "sigmoid": "return 0.5f + 0.5f * rayprune_tanh(0.5f * x);",
    "relu": "return x < 0.0f ? 0.0f : x;",
    "elu": "return x > 0.0f ? x : expm1f(x);",
    "silu": "return x / (1.0f + expf(-x));",
}
NEEDS_TANH = ("tanh", "sigmoid")
NEEDS_LIBM = ("elu", "silu")

LINEAR_FLOAT_C = """\
/* y = W x + b, with W stored transposed, wt[n_in][n_out]: the inner loop runs over outputs,
   independent sums that a compiler can vectorize, each still summed in input order (then b,
   NULL for a low-rank layer's down factor) */
static void rayprune_linear(const float *restrict wt, const float *restrict b,
                            const float *restrict x, float *restrict y, int n_out, int n_in)
{
    int i, j;
    for (i = 0; i < n_out; ++i) {
        y[i] = 0.0f;
    }
    for (j = 0; j < n_in; ++j) {
        const float xj = x[j];
        const float *col = wt + j * n_out;
        for (i = 0; i < n_out; ++i) {
            y[i] += col[i] * xj;
        }
    }
    if (b != NULL) {
        for (i = 0; i < n_out; ++i) {
            y[i] += b[i];
        }
    }
}
"""

LINEAR_INT8_C = """\
/* y = s * (Q x) + b, with int8 Q stored transposed, qt[n_in][n_out], and one scale per row
   of Q: int8 weights times float activations, summed in float over the inputs in order (the
   inner loop runs over outputs, so it vectorizes); b is NULL for a low-rank down factor */
static void rayprune_linear(const int8_t *restrict qt, const float *restrict s,
                            const float *restrict b, const float *restrict x, float *restrict y,
                            int n_out, int n_in)
{
    int i, j;
    for (i = 0; i < n_out; ++i) {
        y[i] = 0.0f;
    }
    for (j = 0; j < n_in; ++j) {
        const float xj = x[j];
        const int8_t *col = qt + j * n_out;
        for (i = 0; i < n_out; ++i) {
            y[i] += (float)col[i] * xj;
        }
    }
    for (i = 0; i < n_out; ++i) {
        y[i] = b != NULL ? y[i] * s[i] + b[i] : y[i] * s[i];
    }
}
"""

ACTIVATE_C = """\
static void rayprune_activate(float *x, int n)
{
    int i;
    for (i = 0; i < n; ++i) {
        x[i] = rayprune_activation(x[i]);
    }
}
"""

ARGMAX_C = """\
/* numpy.argmax of x[0..n): the first maximum, or the first NaN (NaN compares false) */
static int rayprune_argmax(const float *x, int n)
{
    int best = 0, i;
    for (i = 1; i < n; ++i) {
        if (x[best] == x[best] && !(x[i] <= x[best])) {
            best = i;
        }
    }
    return best;
}
"""

ACT_DISCRETE_C = """\
int rayprune_act_discrete(const float *obs)
{
    float out[RAYPRUNE_OUT_DIM];
    rayprune_forward(obs, out);
    return rayprune_argmax(out, RAYPRUNE_OUT_DIM);
}
"""

ACT_MULTI_DISCRETE_C = """\
void rayprune_act_multi_discrete(const float *obs, int *action)
{
    float out[RAYPRUNE_OUT_DIM];
    int k, start = 0;
    rayprune_forward(obs, out);
    for (k = 0; k < RAYPRUNE_ACT_DIM; ++k) {
        action[k] = rayprune_argmax(out + start, rayprune_nvec[k]);
        start += rayprune_nvec[k];
    }
}
"""


@dataclass(frozen=True)
class Matmul:
    """One linear map of the forward pass, y = W x (+ b), then the activation if `activate`."""

    weight: np.ndarray  # float32 [out, in]
    bias: np.ndarray | None  # float32 [out]; None for a LowRankLinear's down factor
    activate: bool


class JsonSpace(Protocol):
    """An action space object that gives compression.json's dict."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Actions:
    """The action space as the C needs it: Discrete(n), a Box with float32 bounds, or
    MultiDiscrete(nvec)."""

    discrete: bool
    size: int
    low: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    high: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    nvec: tuple[int, ...] = ()

    @property
    def kind(self) -> str:
        if self.nvec:
            return "MULTI_DISCRETE"
        return "DISCRETE" if self.discrete else "BOX"

    @classmethod
    def from_space(cls, space: dict[str, Any] | JsonSpace) -> Actions:
        """From the dict compression.json stores, {"type": "discrete", "n": k} or {"type":
        "box", "shape": [k], "low": [...], "high": [...]}, or an object whose to_json() gives
        that dict (spaces.ActionSpace)."""
        raw = space if isinstance(space, dict) else space.to_json()
        if raw.get("type") == "discrete":
            return cls(True, int(raw["n"]))
        if raw.get("type") == "multi_discrete":
            nvec = tuple(int(n) for n in raw["nvec"])
            return cls(False, sum(nvec), nvec=nvec)
        if raw.get("type") == "box" and len(raw.get("shape", ())) == 1:
            size = int(raw["shape"][0])
            # infinite bounds are strings in the JSON (json_numbers)
            low = np.asarray([number_from_json(v) for v in raw["low"]], np.float32).reshape(-1)
            high = np.asarray([number_from_json(v) for v in raw["high"]], np.float32).reshape(-1)
            if len(low) == len(high) == size:
                return cls(False, size, low, high)
        raise ValueError(
            f"action space {raw} is not discrete, multi-discrete or a 1-D box with its bounds"
        )


@dataclass(frozen=True)
class _Layer:
    """A matmul as C: its static const arrays and the call that computes it."""

    arrays: list[str]
    call: str  # format with x= and y=, the input and output buffers
    n_out: int
    activate: bool


def matmuls(net: CompactMLP) -> list[Matmul]:
    """The network's linear maps in forward order: a LowRankLinear is down (no bias), then up."""
    found = []
    for i, layer in enumerate(net.linears):
        activate = i < len(net.linears) - 1
        if isinstance(layer, LowRankLinear):
            found.append(Matmul(_array(layer.down.weight), None, False))
            layer = layer.up
        found.append(Matmul(_array(layer.weight), _array(layer.bias), activate))
    return found


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


def c_float(value: float) -> str:
    """A C float literal that parses back to exactly this float32: 9 significant digits
    round-trip any float32; -0.0 keeps its sign. Non-finite values have no C99 literal."""
    x = np.float32(value)
    if not np.isfinite(x):
        raise ValueError(f"{x} has no C float literal; the weights must be finite")
    text = f"{float(x):.9g}"
    if not any(c in text for c in ".e"):
        text += ".0"  # "1" and "-0" are int constants
    return text + "f"


def _array_c(ctype: str, name: str, values: Sequence[str], comment: str) -> str:
    lines = [
        "    " + ", ".join(values[i : i + VALUES_PER_LINE]) + ","
        for i in range(0, len(values), VALUES_PER_LINE)
    ]
    body = "\n".join(lines)
    return f"/* {comment} */\nstatic const {ctype} {name}[{len(values)}] = {{\n{body}\n}};\n"


def _floats_c(name: str, values: np.ndarray, comment: str) -> str:
    try:
        literals = [c_float(v) for v in values.ravel()]
    except ValueError as err:
        raise ValueError(f"{name} ({comment}): {err}") from None
    return _array_c("float", name, literals, comment)


def _bias_c(k: int, bias: np.ndarray | None, arrays: list[str]) -> str:
    """The bias argument of matmul k's call; its array, if it has one, joins `arrays`."""
    if bias is None:
        return "NULL"
    arrays.append(_floats_c(f"rayprune_b{k}", bias, f"matmul {k}: b"))
    return f"rayprune_b{k}"


def _float_layer(k: int, m: Matmul) -> _Layer:
    n_out, n_in = m.weight.shape
    comment = f"matmul {k}: W transposed, {n_in} x {n_out}"
    arrays = [_floats_c(f"rayprune_w{k}", m.weight.T, comment)]
    bias = _bias_c(k, m.bias, arrays)
    call = f"rayprune_linear(rayprune_w{k}, {bias}, {{x}}, {{y}}, {n_out}, {n_in});"
    return _Layer(arrays, call, n_out, m.activate)


def _int8_layer(k: int, m: QuantizedMatmul) -> _Layer:
    n_out, n_in = m.weight.shape
    ints = [str(int(v)) for v in m.weight.T.ravel()]
    comment = f"matmul {k}: int8 Q transposed, {n_in} x {n_out}"
    arrays = [
        _array_c("int8_t", f"rayprune_q{k}", ints, comment),
        _floats_c(f"rayprune_s{k}", m.scale, f"matmul {k}: scale per row"),
    ]
    bias = _bias_c(k, m.bias, arrays)
    call = f"rayprune_linear(rayprune_q{k}, rayprune_s{k}, {bias}, {{x}}, {{y}}, {n_out}, {n_in});"
    return _Layer(arrays, call, n_out, m.activate)


def _forward_c(layers: list[_Layer], normalized: bool) -> str:
    """rayprune_forward: the observation normalized (when the policy was trained so), then the
    matmuls in order through two ping-pong stack buffers, the last one writing `out`."""
    widths = [layer.n_out for layer in layers[:-1]]
    buffers = [f"h{i}" for i in range(min(2, len(widths)))]
    lines = ["void rayprune_forward(const float *obs, float *out)", "{"]
    if buffers:
        lines.append("    float " + ", ".join(f"{b}[{max(widths)}]" for b in buffers) + ";")
    x = "obs"
    if normalized:
        lines += ["    float x[RAYPRUNE_OBS_DIM];", "    rayprune_normalize(obs, x);"]
        x = "x"
    for k, layer in enumerate(layers):
        y = "out" if k == len(layers) - 1 else buffers[k % 2]
        lines.append("    " + layer.call.format(x=x, y=y))
        if layer.activate:
            lines.append(f"    rayprune_activate({y}, {layer.n_out});")
        x = y
    return "\n".join([*lines, "}", ""])


def _act_box_c(actions: Actions) -> str:
    """rayprune_act_box: np.clip(mean, low, high) as two comparisons per finite bound; an
    infinite bound clips nothing, and C99 has no infinity literal outside math.h."""
    lines = [
        "void rayprune_act_box(const float *obs, float *action)",
        "{",
        "    rayprune_forward(obs, action);",
    ]
    for i, (low, high) in enumerate(zip(actions.low, actions.high)):
        for bound, test in ((low, "<"), (high, ">")):
            if np.isfinite(bound):
                lines += [
                    f"    if (action[{i}] {test} {c_float(bound)}) {{",
                    f"        action[{i}] = {c_float(bound)};",
                    "    }",
                ]
    return "\n".join([*lines, "}", ""])


def _header_c(obs_dim: int, actions: Actions, description: str) -> str:
    extra = ""
    if actions.nvec:
        output = "action logits, one group per sub-action"
        sizes = ", ".join(str(n) for n in actions.nvec)
        extra = (
            f"#define RAYPRUNE_ACT_DIM {len(actions.nvec)} /* sub-actions */\n"
            f"#define RAYPRUNE_ACT_NVEC {{{sizes}}} /* their sizes, in order */\n"
        )
        act = (
            "/* action[RAYPRUNE_ACT_DIM]: the argmax of each sub-action's logits, the first\n"
            "   index on ties (numpy.argmax) */\n"
            "void rayprune_act_multi_discrete(const float *obs, int *action);"
        )
    elif actions.discrete:
        output = "action logits"
        act = (
            "/* argmax of the logits, the first index on ties (numpy.argmax) */\n"
            "int rayprune_act_discrete(const float *obs);"
        )
    else:
        output = "action means"
        act = (
            "/* action[RAYPRUNE_OUT_DIM]: the means clipped to the Box bounds; obs and action\n"
            "   must not overlap */\n"
            "void rayprune_act_box(const float *obs, float *action);"
        )
    return f"""\
/* {description}.
   Generated by rayprune.policy.c_export: C99, no allocation, no writable globals. */
#ifndef RAYPRUNE_POLICY_H
#define RAYPRUNE_POLICY_H

#define RAYPRUNE_OBS_DIM {obs_dim} /* the flattened observation, row-major */
#define RAYPRUNE_OUT_DIM {actions.size} /* {output} */
#define RAYPRUNE_{actions.kind} 1
{extra}
#ifdef __cplusplus
extern "C" {{
#endif

/* out[RAYPRUNE_OUT_DIM]: what policy.onnx outputs for obs[RAYPRUNE_OBS_DIM] ({output});
   obs and out must not overlap */
void rayprune_forward(const float *obs, float *out);
{act}

#ifdef __cplusplus
}}
#endif

#endif
"""


def _normalize_c(normalization: ObsNormalization) -> str:
    """rayprune_normalize: ObsNormalization.apply in C, (x - mean) / (std + eps) clipped, with
    std + eps summed in float32 here as the graph sums it."""
    scale = np.asarray(normalization.std, np.float32) + np.float32(normalization.eps)
    arrays = [
        _floats_c("rayprune_obs_mean", np.asarray(normalization.mean, np.float32), "mean"),
        _floats_c("rayprune_obs_scale", scale, "std + eps"),
    ]
    body = ["    x[i] = (obs[i] - rayprune_obs_mean[i]) / rayprune_obs_scale[i];"]
    if normalization.clip is not None:
        bound = c_float(normalization.clip)
        body += [
            f"    if (x[i] < -{bound}) {{", f"        x[i] = -{bound};", "    }",
            f"    if (x[i] > {bound}) {{", f"        x[i] = {bound};", "    }",
        ]  # fmt: skip
    loop = "\n".join("    " + line for line in body)
    return "\n".join([
        *arrays,
        "static void rayprune_normalize(const float *obs, float *x)",
        "{",
        "    int i;",
        "    for (i = 0; i < RAYPRUNE_OBS_DIM; ++i) {",
        loop,
        "    }",
        "}",
        "",
    ])  # fmt: skip


def _act_c(actions: Actions) -> list[str]:
    if actions.nvec:
        nvec = "static const int rayprune_nvec[RAYPRUNE_ACT_DIM] = RAYPRUNE_ACT_NVEC;\n"
        return [nvec, ARGMAX_C, ACT_MULTI_DISCRETE_C]
    if actions.discrete:
        return [ARGMAX_C, ACT_DISCRETE_C]
    return [_act_box_c(actions)]


def _source_c(
    layers: list[_Layer],
    actions: Actions,
    activation: str,
    int8: bool,
    description: str,
    normalization: ObsNormalization | None,
) -> str:
    includes = ['#include "policy.h"', "", "#include <stddef.h>"]
    if int8:
        includes.append("#include <stdint.h>")
    if activation in NEEDS_LIBM:
        includes.append("#include <math.h>")
    parts = [
        f"/* {description}.\n   Generated by rayprune.policy.c_export. */",
        "\n".join(includes) + "\n",
    ]
    parts += [array for layer in layers for array in layer.arrays]
    parts.append(LINEAR_INT8_C if int8 else LINEAR_FLOAT_C)
    if any(layer.activate for layer in layers):  # an unused static function is a warning
        if activation in NEEDS_TANH:
            parts.append(TANH_C)
        body = ACTIVATION_C[activation]
        parts.append(f"static float rayprune_activation(float x)\n{{\n    {body}\n}}\n")
        parts.append(ACTIVATE_C)
    if normalization is not None:
        parts.append(_normalize_c(normalization))
    parts.append(_forward_c(layers, normalization is not None))
    parts += _act_c(actions)
    return "\n".join(parts)


def describe(net: CompactMLP) -> str:
    """'4-9-9-2 tanh', with the ranks of low-rank layers when there are any."""
    sizes = [net.linears[0].in_features, *net.hidden_sizes, net.head.out_features]
    text = "-".join(map(str, sizes)) + f" {net.activation}"
    if any(rank is not None for rank in net.ranks):
        text += f", ranks {net.ranks}"
    return text


def _check_quantized(net: CompactMLP, quantized: QuantizedMLP) -> None:
    shapes = [m.weight.shape for m in matmuls(net)]
    if [
        m.weight.shape for m in quantized.matmuls
    ] != shapes or quantized.activation != net.activation:
        raise ValueError(f"the quantized network does not match the {describe(net)} network")


def c_sources(
    net: CompactMLP,
    action_space: dict[str, Any] | JsonSpace,
    quantized: QuantizedMLP | None = None,
    normalization: ObsNormalization | None = None,
) -> tuple[str, str]:
    """(policy.h, policy.c) computing `net` (float32 weights), or `quantized` (int8 weights)
    when given, on observations normalized by `normalization` first when given."""
    actions = Actions.from_space(action_space)
    if net.head.out_features != actions.size:
        raise ValueError(
            f"the network has {net.head.out_features} outputs, the action space {actions.size}"
        )
    if net.activation not in ACTIVATION_C:
        raise ValueError(
            f"no C for activation {net.activation!r}; choose one of {sorted(ACTIVATION_C)}"
        )
    if quantized is None:
        layers = [_float_layer(k, m) for k, m in enumerate(matmuls(net))]
        description = f"{describe(net)} policy, float32 weights"
    else:
        _check_quantized(net, quantized)
        layers = [_int8_layer(k, m) for k, m in enumerate(quantized.matmuls)]
        description = f"{describe(net)} policy, int8 weights (one float scale per row)"
    obs_dim = net.linears[0].in_features
    header = _header_c(obs_dim, actions, description)
    source = _source_c(
        layers, actions, net.activation, quantized is not None, description, normalization
    )
    return header, source


def write_c_policy(
    net: CompactMLP,
    action_space: dict[str, Any] | JsonSpace,
    out_dir: Path,
    quantized: QuantizedMLP | None = None,
    normalization: ObsNormalization | None = None,
) -> Path:
    """Write out_dir/policy.h and out_dir/policy.c (c_sources). Returns out_dir."""
    header, source = c_sources(net, action_space, quantized, normalization)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / HEADER_FILE).write_text(header)
    (out_dir / SOURCE_FILE).write_text(source)
    return out_dir


def sources_size(header: str, source: str) -> int:
    """Bytes of the two files as written (UTF-8)."""
    return len(header.encode()) + len(source.encode())


def code_size(c_dir: Path) -> int:
    """Bytes of policy.c plus policy.h: the source a firmware project takes in."""
    return sum((Path(c_dir) / name).stat().st_size for name in (SOURCE_FILE, HEADER_FILE))

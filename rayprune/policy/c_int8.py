"""The integer-only int8 C of a compact policy (quantize.py's scheme): float only at the edges.

rayprune_forward quantizes the observation (rayprune_quantize_input, float), runs every matmul
as its own static function rayprune_layer<k> on int8 inputs with int32 accumulators, int32
requantization and int8 activation tables (integer instructions only), and turns the head's
accumulators into float outputs (one multiply each). Integer right shifts of negative values
are arithmetic in GCC and Clang (C99 leaves them implementation-defined).
"""

from __future__ import annotations

import numpy as np

from rayprune.policy.c_text import UNROLL_MAX, dot_c, floats_c, ints_c, stage_c
from rayprune.policy.quantize import INT8_MIN, IntMatmul, QuantizedMLP

# ACLE's intrinsics where the target has them: __ssat (rayprune_requantize), __smlad
ACLE_INCLUDE = (
    "#if defined(__ARM_FEATURE_SAT) || defined(__ARM_FEATURE_DSP)\n#include <arm_acle.h>\n#endif"
)

REQUANTIZE_C = """\
/* round(acc * m 2^-shift), once, half up, in int64 (CMSIS-NN's arm_nn_requantize with
   CMSIS_NN_USE_SINGLE_ROUNDING), plus the output's zero point, saturated to int8; shift is at
   least 31 and m < 2^31, so the product and the result fit. With the ARM saturation
   instructions (Cortex-M3 and up) the saturation is one SSAT, which GCC does not find in the
   two comparisons (ACLE's __ssat: a compiler intrinsic, nothing to link). */
static int32_t rayprune_requantize(int32_t acc, int32_t m, int shift, int32_t zero_point)
{
    const int32_t y =
        (int32_t)(((int64_t)acc * m + ((int64_t)1 << (shift - 1))) >> shift) + zero_point;
#if defined(__ARM_FEATURE_SAT)
    return __ssat(y, 8);
#else
    return y < -128 ? -128 : y > 127 ? 127 : y;
#endif
}
"""

INPUT_C = """\
/* the input edge, float -> int8: t = (obs - offset) * gain (the normalization and the input's
   scale), floor(t + 0.5) as (int32_t)(t + 512.5f) - 512 on t clamped to +-400 (a NaN to
   -400), plus the input's zero point, saturated to int8 */
static void rayprune_quantize_input(const float *restrict obs, int8_t *restrict q)
{
    int j;
    for (j = 0; j < RAYPRUNE_OBS_DIM; ++j) {
        float t = (obs[j] - rayprune_in_offset[j]) * rayprune_in_gain[j];
        int32_t v;
        if (!(t > -400.0f)) {
            t = -400.0f;
        }
        if (t > 400.0f) {
            t = 400.0f;
        }
        v = (int32_t)(t + 512.5f) - 512 + rayprune_in_zero[j];
        q[j] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
}
"""


def _tables(quantized: QuantizedMLP) -> tuple[list[str], dict[bytes, str]]:
    """One const array per distinct activation table (layers often share theirs)."""
    arrays, names = [], {}
    for m in quantized.matmuls:
        if m.table is not None and m.table.tobytes() not in names:
            name = f"rayprune_table{len(names)}"
            names[m.table.tobytes()] = name
            comment = f"{quantized.activation} of the int8 pre-activation q, at [q + 128]"
            arrays.append(ints_c("int8_t", name, m.table, comment))
    return arrays, names


def _stage(k: int, m: IntMatmul, tables: dict[bytes, str]) -> tuple[list[str], str]:
    """(matmul k's arrays, its function rayprune_layer<k>): int8 in, int8 (or, for the head,
    int32 accumulators) out. An unrolled matmul (c_text.UNROLL_MAX) has a second function for
    targets with the DSP extension (_dsp_stage), chosen by the preprocessor."""
    n_out, n_in = m.weight.shape
    weights = ints_c("int8_t", f"rayprune_q{k}", m.weight, f"matmul {k}: int8 W, {n_out} x {n_in}")
    arrays = [
        ints_c("int32_t", f"rayprune_b{k}", m.bias, f"matmul {k}: int32 bias, zero points in")
    ]
    if m.requantize is None:
        store, out_type = "y[i] = acc;", "int32_t"
    else:
        r = m.requantize
        arrays.append(ints_c("int32_t", f"rayprune_m{k}", r.multiplier, f"matmul {k}: m_i"))
        value = f"rayprune_requantize(acc, rayprune_m{k}[i], {r.shift}, {r.zero_point})"
        if m.table is None:
            store = f"y[i] = (int8_t){value};"
        else:
            store = f"y[i] = {tables[m.table.tobytes()]}[{value} - {INT8_MIN}];"
        out_type = "int8_t"
    function = stage_c(
        f"rayprune_layer{k}", f"rayprune_q{k}", ("int8_t", out_type), (n_out, n_in),
        dot_c(n_in, "int32_t", f"rayprune_b{k}[i]"), store,
    )  # fmt: skip
    comment = f"/* matmul {k}: {n_in} -> {n_out}, integers only */\n"
    if n_in > UNROLL_MAX:
        return [weights, *arrays], comment + function
    dsp_weights, dsp_function = _dsp_stage(k, m.weight, out_type, store)
    return [
        *arrays,
        f"#if defined(__ARM_FEATURE_DSP)\n{dsp_weights}#else\n{weights}#endif\n",
    ], f"#if defined(__ARM_FEATURE_DSP)\n{comment}{dsp_function}#else\n{comment}{function}#endif\n"


def _dsp_stage(k: int, weight: np.ndarray, out_type: str, store: str) -> tuple[str, str]:
    """(the weights as int16 pairs, rayprune_layer<k> with two products per SMLAD): the ARM
    DSP extension's dual 16-bit multiply-accumulate (ACLE's __smlad, as CMSIS-NN's kernels use
    it), acc + a_lo b_lo + a_hi b_hi, exact in int32 as the plain sum: the same bits. Each row's
    inputs are paired (0, 1), (2, 3), ..., a 0 weight after an odd last one; both the weights'
    and the inputs' pairs are words a_lo + 65536 a_hi (a_lo's low 16 bits)."""
    n_out, n_in = weight.shape
    padded = np.zeros((n_out, n_in + n_in % 2), dtype=np.int64)
    padded[:, :n_in] = weight
    words = (padded[:, 0::2] & 0xFFFF) + 65536 * padded[:, 1::2]
    n_pairs = words.shape[1]
    array = ints_c(
        "int32_t", f"rayprune_q{k}", words,
        f"matmul {k}: int8 W as int16 pairs, {n_out} x {n_pairs} words",
    )  # fmt: skip
    pairs = [
        f"x{j // 2} = (x[{j}] & 0xffff) + 65536 * x[{j + 1}]"
        if j + 1 < n_in
        else f"x{j // 2} = x[{j}]"
        for j in range(0, n_in, 2)
    ]
    macs = [f"        acc = __smlad(w[{p}], x{p}, acc);" for p in range(n_pairs)]
    lines = [
        f"static void rayprune_layer{k}(const int8_t *restrict x, {out_type} *restrict y)",
        "{",
        *(f"    const int32_t {', '.join(pairs[i : i + 2])};" for i in range(0, n_pairs, 2)),
        f"    const int32_t *w = rayprune_q{k};",
        "    int i;",
        f"    for (i = 0; i < {n_out}; ++i, w += {n_pairs}) {{",
        f"        int32_t acc = rayprune_b{k}[i];",
        *macs,
        f"        {store}",
        "    }",
        "}",
        "",
    ]
    return array, "\n".join(lines)


def _forward(quantized: QuantizedMLP) -> str:
    """Input edge, the stages through two int8 ping-pong stack buffers, the head's int32
    accumulators to float."""
    widths = [quantized.obs_dim, *(m.weight.shape[0] for m in quantized.matmuls[:-1])]
    lines = [
        "void rayprune_forward(const float *obs, float *out)",
        "{",
        f"    int8_t a[{max(widths)}]" + (f", b[{max(widths)}];" if len(widths) > 1 else ";"),
        "    int32_t acc[RAYPRUNE_OUT_DIM];",
        "    int i;",
        "    rayprune_quantize_input(obs, a);",
    ]
    buffers = ["a", "b"]
    for k in range(len(quantized.matmuls)):
        y = "acc" if k == len(quantized.matmuls) - 1 else buffers[(k + 1) % 2]
        lines.append(f"    rayprune_layer{k}({buffers[k % 2]}, {y});")
    lines += [
        "    for (i = 0; i < RAYPRUNE_OUT_DIM; ++i) {",
        "        out[i] = (float)acc[i] * rayprune_out_scale[i];",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def int8_parts(quantized: QuantizedMLP) -> list[str]:
    """policy.c's arrays and functions from the includes to rayprune_forward."""
    edge = quantized.input
    parts = [
        floats_c("rayprune_in_offset", edge.offset, "input edge: offset (the mean)"),
        floats_c("rayprune_in_gain", edge.gain, "input edge: 1 / (std * input scale)"),
        ints_c("int32_t", "rayprune_in_zero", edge.zero_point, "input edge: zero points"),
        floats_c("rayprune_out_scale", quantized.output_scale, "output edge: acc -> float"),
    ]
    arrays, tables = _tables(quantized)
    parts += arrays
    functions = []
    for k, m in enumerate(quantized.matmuls):
        stage_arrays, function = _stage(k, m, tables)
        parts += stage_arrays
        functions.append(function)
    if any(m.requantize is not None for m in quantized.matmuls):
        parts.append(REQUANTIZE_C)
    return [*parts, INPUT_C, *functions, _forward(quantized)]


def check_matches(quantized: QuantizedMLP, shapes: list[tuple[int, int]], activation: str) -> bool:
    return [m.weight.shape for m in quantized.matmuls] == shapes and (
        quantized.activation == activation
    )

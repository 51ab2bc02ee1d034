"""C99 source for a compact policy: `policy.h` and `policy.c`, float32 (c_float.py) or
integer-only int8 (c_int8.py, quantize.py's scheme).

The generated code allocates nothing and has no writable globals: weights, biases and scales
are `static const` arrays, activations live in stack buffers. It calls no library function
(no libm, no memset or memcpy: nothing to link on bare metal) and compiles clean with
`gcc -std=c99 -O2 -Wall -Wextra -Werror -pedantic`. In an ISO mode (-std=c99) GCC fuses no
multiply-adds, so the outputs are the same at any -O level and -march; -std=gnu99 may fuse
them, changing float outputs by float32 rounding only. The API is the same for both types, so
one caller compiles against either:

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

Weight matrices are stored row-major, one output's row after another: each output is a dot
product summed in input order, written out term by term up to c_text.UNROLL_MAX inputs.

The C is generated here rather than by onnx2c or emlearn: emlearn 0.23 (pip) supports only
identity/relu/logistic/softmax/tanh MLPs, no low-rank factors, and keeps its activations in
writable static buffers; onnx2c is a separate C++ build; neither has an integer-only int8 path
with activation tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayprune.policy.c_float import ACTIVATION_C, activation_c, float_stage
from rayprune.policy.c_int8 import ACLE_INCLUDE, check_matches, int8_parts
from rayprune.policy.c_text import Actions, JsonSpace, act_c, c_float, header_c, normalize_c
from rayprune.policy.matmul import matmuls
from rayprune.policy.normalization import ObsNormalization
from rayprune.policy.quantize import QuantizedMLP
from rayprune.pruning.compaction import CompactMLP

__all__ = ["Actions", "c_float", "c_sources", "code_size", "matmuls", "write_c_policy"]

C_DIR = "c"
HEADER_FILE = "policy.h"
SOURCE_FILE = "policy.c"


def _float_forward(n_stages: int, widths: list[int], normalized: bool) -> str:
    """rayprune_forward: the observation normalized (when the policy was trained so), then the
    stages in order through two ping-pong stack buffers, the last one writing `out`."""
    buffers = [f"h{i}" for i in range(min(2, len(widths)))]
    lines = ["void rayprune_forward(const float *obs, float *out)", "{"]
    if buffers:
        lines.append("    float " + ", ".join(f"{b}[{max(widths)}]" for b in buffers) + ";")
    x = "obs"
    if normalized:
        lines += ["    float x[RAYPRUNE_OBS_DIM];", "    rayprune_normalize(obs, x);"]
        x = "x"
    for k in range(n_stages):
        y = "out" if k == n_stages - 1 else buffers[k % 2]
        lines.append(f"    rayprune_layer{k}({x}, {y});")
        x = y
    return "\n".join([*lines, "}", ""])


def _float_parts(net: CompactMLP, normalization: ObsNormalization | None) -> list[str]:
    stages = matmuls(net)
    arrays, functions = [], []
    for k, m in enumerate(stages):
        stage_arrays, function = float_stage(k, m)
        arrays += stage_arrays
        functions.append(function)
    parts = arrays
    if any(m.activate for m in stages):  # an unused static function is a warning
        parts += activation_c(net.activation)
    if normalization is not None:
        parts.append(normalize_c(normalization))
    widths = [m.weight.shape[0] for m in stages[:-1]]
    return [*parts, *functions, _float_forward(len(stages), widths, normalization is not None)]


def describe(net: CompactMLP) -> str:
    """'4-9-9-2 tanh', with the ranks of low-rank layers when there are any."""
    sizes = [net.linears[0].in_features, *net.hidden_sizes, net.head.out_features]
    text = "-".join(map(str, sizes)) + f" {net.activation}"
    if any(rank is not None for rank in net.ranks):
        text += f", ranks {net.ranks}"
    return text


def c_sources(
    net: CompactMLP,
    action_space: dict[str, Any] | JsonSpace,
    quantized: QuantizedMLP | None = None,
    normalization: ObsNormalization | None = None,
) -> tuple[str, str]:
    """(policy.h, policy.c) computing `net` in float32 on observations normalized by
    `normalization` first when given, or `quantized` (integer int8, its normalization folded
    into its input edge) when given."""
    actions = Actions.from_space(action_space)
    if net.head.out_features != actions.size:
        raise ValueError(
            f"the network has {net.head.out_features} outputs, the action space {actions.size}"
        )
    if net.activation not in ACTIVATION_C:
        raise ValueError(
            f"no C for activation {net.activation!r}; choose one of {sorted(ACTIVATION_C)}"
        )
    includes = ['#include "policy.h"', "", "#include <stdint.h>"]
    if quantized is None:
        parts = _float_parts(net, normalization)
        description = f"{describe(net)} policy, float32 weights"
    else:
        shapes = [m.weight.shape for m in matmuls(net)]
        if not check_matches(quantized, shapes, net.activation):
            raise ValueError(f"the quantized network does not match the {describe(net)} network")
        parts = int8_parts(quantized)
        includes.append(ACLE_INCLUDE)
        description = f"{describe(net)} policy, int8 integer-only (float at the edges)"
    header = header_c(net.linears[0].in_features, actions, description)
    comment = f"/* {description}.\n   Generated by rayprune.policy.c_export. */"
    source = "\n".join([comment, "\n".join(includes) + "\n", *parts, *act_c(actions)])
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

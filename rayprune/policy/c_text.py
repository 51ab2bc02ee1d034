"""C text shared by the float32 and int8 generators (c_float.py, c_int8.py): literals, const
arrays, policy.h, the action functions and the observation's normalization."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rayprune.policy.json_numbers import number_from_json
from rayprune.policy.normalization import ObsNormalization

VALUES_PER_LINE = 6

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


def array_c(ctype: str, name: str, values: Sequence[str], comment: str) -> str:
    lines = [
        "    " + ", ".join(values[i : i + VALUES_PER_LINE]) + ","
        for i in range(0, len(values), VALUES_PER_LINE)
    ]
    body = "\n".join(lines)
    return f"/* {comment} */\nstatic const {ctype} {name}[{len(values)}] = {{\n{body}\n}};\n"


def floats_c(name: str, values: np.ndarray, comment: str) -> str:
    try:
        literals = [c_float(v) for v in values.ravel()]
    except ValueError as err:
        raise ValueError(f"{name} ({comment}): {err}") from None
    return array_c("float", name, literals, comment)


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


def header_c(obs_dim: int, actions: Actions, description: str) -> str:
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


def normalize_c(normalization: ObsNormalization) -> str:
    """rayprune_normalize: ObsNormalization.apply in C, (x - mean) / (std + eps) clipped, with
    std + eps summed in float32 here as the graph sums it."""
    scale = np.asarray(normalization.std, np.float32) + np.float32(normalization.eps)
    arrays = [
        floats_c("rayprune_obs_mean", np.asarray(normalization.mean, np.float32), "mean"),
        floats_c("rayprune_obs_scale", scale, "std + eps"),
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


def act_c(actions: Actions) -> list[str]:
    if actions.nvec:
        nvec = "static const int rayprune_nvec[RAYPRUNE_ACT_DIM] = RAYPRUNE_ACT_NVEC;\n"
        return [nvec, ARGMAX_C, ACT_MULTI_DISCRETE_C]
    if actions.discrete:
        return [ARGMAX_C, ACT_DISCRETE_C]
    return [_act_box_c(actions)]


def ints_c(ctype: str, name: str, values: np.ndarray, comment: str) -> str:
    return array_c(ctype, name, [str(int(v)) for v in np.asarray(values).ravel()], comment)


# Up to this many inputs a matmul's dot products are written out term by term, the inputs held
# in locals: no loop counter or index per product, and the compiler keeps them in registers.
UNROLL_MAX = 32


def dot_c(n_in: int, local: str, init: str) -> tuple[list[str], list[str]]:
    """(lines before the loop over outputs, lines in it) that leave in `acc` the value init
    (a C expression, or "" for none) plus sum_j w[j] * x[j] in input order, `local` the type
    of the inputs' locals and of acc, w pointing at the output's row of weights."""
    if n_in > UNROLL_MAX:
        first = f"acc = {init};" if init else "acc = w[0] * x[0];"
        start = 0 if init else 1
        inner = [
            f"    {local} acc;",
            f"    {first}",
            f"    for (j = {start}; j < {n_in}; ++j) {{",
            f"        acc += w[j] * ({local})x[j];",
            "    }",
        ]
        return ["    int j;"], inner
    names = [f"x{j}" for j in range(n_in)]
    loads = [f"{n} = x[{j}]" for j, n in enumerate(names)]
    before = [f"    const {local} " + ", ".join(loads[i : i + 6]) + ";" for i in range(0, n_in, 6)]
    terms = [f"w[{j}] * {n}" for j, n in enumerate(names)]
    if init:
        terms.insert(0, init)
    lines = [" + ".join(terms[i : i + 5]) for i in range(0, len(terms), 5)]
    body = [f"    const {local} acc = " + lines[0]]
    body += [f"        + {line}" for line in lines[1:]]
    body[-1] += ";"
    return before, body


def stage_c(
    name: str, weights: str, types: tuple[str, str], shape: tuple[int, int], dot: tuple, store: str
) -> str:
    """static void name(const types[0] *restrict x, types[1] *restrict y): for each of the
    shape[0] outputs i, w = weights' row i (of shape[1]), the dot product (dot_c) and then
    `store`, a statement using acc and i."""
    (n_out, n_in), (before, body) = shape, dot
    lines = [
        f"static void {name}(const {types[0]} *restrict x, {types[1]} *restrict y)",
        "{",
        *before,
        f"    const {types[0]} *w = {weights};",
        "    int i;",
        f"    for (i = 0; i < {n_out}; ++i, w += {n_in}) {{",
        *("    " + line for line in body),
        f"        {store}",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)

"""The float32 C of a compact policy: weights as float arrays, one static function per matmul
computing its outputs as dot products with the activation applied in the same loop.

Activations need no libm. tanh(x) is x p(x^2) / q(x^2), p of degree 3 and q monic of degree 4:
the minimax rational of that form on [0, 8], fitted with numpy by Lawson's iteration on the
linearized residual x p(t) - tanh(x) q(t) (weighted least squares on 20,000 points, each weight
scaled by its point's error and divided by q, 1,500 rounds), the coefficients rounded to float32
(fit's own max error 1.5e-7); it reaches 1.0f at |x| = 7.66902733, beyond which the C returns
+-1. Measured max abs error over [-20, 20] in float32, against numpy.tanh: 4.4e-7, at the
saturation point (tests/unit/test_c_export.py); Eigen's degree-13/6 rational (3.95e-7) costs 11
coefficients against 8, and glibc's tanhf several times a whole 4-9-9-2 forward pass.
rayprune_tanh is inline so that, in the layers' loops, the compiler keeps its coefficients in
registers (4-9-9-2 on a Cortex-M4F: 905 instructions per call, against 1,138 with Eigen's
rational in a function called per neuron).
sigmoid(x) = 0.5 + 0.5 tanh(x / 2) reuses it. elu and silu use rayprune_exp, Cephes' expf
(range reduction to |r| <= ln 2 / 2 and a degree-7 polynomial; max relative error 2.4e-7 on
[-87, 88], measured in tests/unit/test_c_export.py) instead of libm's expf and expm1f, so the
object links with nothing on bare metal.
"""

from __future__ import annotations

from rayprune.policy.c_text import dot_c, floats_c, stage_c
from rayprune.policy.matmul import Matmul

TANH_C = """\
/* tanh: x p(x^2) / q(x^2), p of degree 3 and q monic of degree 4 (the minimax fit in this
   module's docstring); +-1 where x^2 > 58.8139801f (|x| > 7.66902733f, where p / q reaches
   1.0f). One comparison on x^2, computed anyway, instead of a clamp at each end; a NaN fails
   it and passes through. */
static inline float rayprune_tanh(float x)
{
    const float x2 = x * x;
    float p, q;
    if (x2 > 58.8139801f) {
        return x > 0.0f ? 1.0f : -1.0f;
    }
    p = x2 * 46.6768227f + 12130.54f;
    p = x2 * p + 533015.25f;
    p = x2 * p + 4127437.25f;
    q = x2 + 978.342896f;
    q = x2 * q + 98088.2891f;
    q = x2 * q + 1908819.75f;
    q = x2 * q + 4127439.25f;
    return x * p / q;
}
"""

EXP_C = """\
/* e^x without libm: Cephes' expf (S. L. Moshier). x = k ln 2 + r with k = round(x / ln 2),
   found by adding 1.5 * 2^23 (whose float sum keeps the rounded integer in its low mantissa
   bits), and r = x - k ln 2 with ln 2 in two parts (Cody and Waite); e^r = 1 + r + r^2 P(r);
   2^k is written into a float's exponent bits. x is clamped to [-87, 88], where 2^k is a
   normal float; a NaN passes through. */
static float rayprune_exp(float x)
{
    union {
        float f;
        uint32_t u;
    } k, two_k;
    float kf, r, p;
    if (x > 88.0f) {
        x = 88.0f;
    }
    if (x < -87.0f) {
        x = -87.0f;
    }
    k.f = x * 1.44269504088896341f + 12582912.0f;
    kf = k.f - 12582912.0f;
    r = x - kf * 0.693359375f;
    r = r + kf * 2.12194440e-4f;
    p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    two_k.u = (k.u << 23) + 0x3f800000u;
    return p * two_k.f;
}
"""

# The body of `static float rayprune_activation(float x)` per activation. relu tests x < 0 so
# that a NaN passes through as in torch.
ACTIVATION_C: dict[str, str] = {
    "tanh": "return rayprune_tanh(x);",
    "sigmoid": "return 0.5f + 0.5f * rayprune_tanh(0.5f * x);",
    "relu": "return x < 0.0f ? 0.0f : x;",
    "elu": "return x > 0.0f ? x : rayprune_exp(x) - 1.0f;",
    "silu": "return x / (1.0f + rayprune_exp(-x));",
}
NEEDS_TANH = ("tanh", "sigmoid")
NEEDS_EXP = ("elu", "silu")


def activation_c(activation: str) -> list[str]:
    """The helper (tanh or exp) and rayprune_activation."""
    helper = TANH_C if activation in NEEDS_TANH else EXP_C if activation in NEEDS_EXP else ""
    body = ACTIVATION_C[activation]
    return [helper, f"static float rayprune_activation(float x)\n{{\n    {body}\n}}\n"]


def float_stage(k: int, m: Matmul) -> tuple[list[str], str]:
    """(matmul k's arrays, its function rayprune_layer<k>(x, y)): y = W x (+ b), activated."""
    n_out, n_in = m.weight.shape
    arrays = [floats_c(f"rayprune_w{k}", m.weight, f"matmul {k}: W, {n_out} x {n_in}")]
    value = "acc"
    if m.bias is not None:
        arrays.append(floats_c(f"rayprune_b{k}", m.bias, f"matmul {k}: b"))
        value = f"acc + rayprune_b{k}[i]"
    if m.activate:
        value = f"rayprune_activation({value})"
    comment = f"/* matmul {k}: {n_in} -> {n_out}, each output summed in input order */\n"
    function = stage_c(
        f"rayprune_layer{k}", f"rayprune_w{k}", ("float", "float"), (n_out, n_in),
        dot_c(n_in, "float", ""), f"y[i] = {value};",
    )  # fmt: skip
    return arrays, comment + function

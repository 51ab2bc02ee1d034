"""The integer-only int8 C (rayprune.policy.c_int8, quantize.py's scheme) against a NumPy
reference written here from the scheme's published formulas (Jacob et al. 2018; CMSIS-NN's
single-rounding requantization), not from the implementation's helpers: bit for bit, on every
activation, low-rank factors, normalization, dead neurons; hand-computed small cases; the
return of a CartPole controller; and the bare-metal builds (nothing to link; no soft-float call
in the hidden layers of a Cortex-M0+ build).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from rayprune.policy.c_export import SOURCE_FILE, write_c_policy
from rayprune.policy.c_runtime import CPolicy
from rayprune.policy.chip import Chip
from rayprune.policy.normalization import ObsNormalization
from rayprune.policy.quantize import QuantizedMLP, quantize_int8
from rayprune.policy.runtime import evaluate
from rayprune.pruning.compaction import CompactMLP, compact
from rayprune.pruning.masked_mlp import MaskedMLP
from tests.unit.nets import ACTIVATIONS, observations, random_net

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc missing")
DISCRETE3 = {"type": "discrete", "n": 3}


def reference_input(quantized: QuantizedMLP, obs: np.ndarray) -> np.ndarray:
    """q_j = clamp(floor(t_j + 0.5) + z_j, -128, 127), t_j = (obs_j - offset_j) gain_j in
    float32, clamped to +-400 (NaN to -400); floor(t + 0.5) as trunc(float32(t + 512.5)) - 512."""
    edge = quantized.input
    t = (obs.astype(np.float32) - edge.offset) * edge.gain
    t = np.minimum(np.where(t > -400, t, np.float32(-400)), np.float32(400))
    q = (t + np.float32(512.5)).astype(np.int64) - 512 + edge.zero_point
    return np.clip(q, -128, 127)


def reference(quantized: QuantizedMLP, obs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(float32 outputs, the int8 pre-activations of every requantized stage), in int64: acc =
    B + Q q; y = clamp(z + floor((acc m + 2^(shift-1)) / 2^shift)); the table at y + 128."""
    q, pre = reference_input(quantized, obs), []
    for m in quantized.matmuls:
        acc = m.bias.astype(np.int64) + q @ m.weight.astype(np.int64).T
        if m.requantize is None:
            break
        r = m.requantize
        rounded = (acc * r.multiplier.astype(np.int64) + (1 << (r.shift - 1))) >> r.shift
        q = np.clip(rounded + r.zero_point, -128, 127)
        pre.append(q)
        if m.table is not None:
            q = m.table.astype(np.int64)[q + 128]
    return acc.astype(np.float32) * quantized.output_scale, pre


def int8_policy(
    net, x, folder, space=DISCRETE3, normalization=None
) -> tuple[CPolicy, QuantizedMLP]:
    quantized = quantize_int8(net, x, normalization)
    return CPolicy(write_c_policy(net, space, folder, quantized, normalization)), quantized


def assert_bit_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.int32), b.view(np.int32))


# --- bit for bit against the reference --------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_int8_c_equals_the_integer_reference_bit_for_bit(activation, tmp_path):
    net = random_net(activation, seed=11, ranks=[None, 3, 1] if activation == "elu" else None)
    x = observations(6, seed=12)
    policy, quantized = int8_policy(net, x[2000:4000], tmp_path)
    with policy:
        out, actions = policy.forward(x), policy.act(x)
    expected, pre = reference(quantized, x)
    assert_bit_equal(out, expected)
    assert np.array_equal(actions, expected.argmax(axis=1))
    # calibrated on the N(0, 1) rows, the 20x ones drive inputs and pre-activations to the limits
    saturated = np.concatenate([np.isin(p, (-128, 127)).ravel() for p in pre])
    assert 0 < np.isin(reference_input(quantized, x), (-128, 127)).mean() < 1
    assert saturated.mean() < 1


def test_int8_c_with_normalization_low_rank_and_box(tmp_path):
    net = random_net("tanh", seed=13, ranks=[2, None, 2])
    rng = np.random.default_rng(13)
    normalization = ObsNormalization(tuple(rng.normal(size=6)), tuple(rng.uniform(0.1, 3, 6)))
    x = observations(6, seed=14) * 3 + 1
    space = {"type": "box", "shape": [3], "low": [-0.1] * 3, "high": [0.1, 5.0, 0.2]}
    policy, quantized = int8_policy(net, x[:3000], tmp_path, space, normalization)
    with policy:
        out, actions = policy.forward(x), policy.act(x)
    expected, _ = reference(quantized, x)
    assert_bit_equal(out, expected)
    assert np.array_equal(actions, np.clip(out, -0.1, np.float32(space["high"])))
    # each input's scale spans its normalized range widened to hold 0, over 255 steps
    std = np.asarray(normalization.std) + normalization.eps
    normalized = np.clip((x[:3000].astype(np.float64) - normalization.mean) / std, -10, 10)
    span = np.maximum(normalized.max(axis=0), 0) - np.minimum(normalized.min(axis=0), 0)
    scale = 1 / (quantized.input.gain.astype(np.float64) * std)
    assert np.allclose(scale, span / 255, rtol=1e-6)
    assert np.array_equal(quantized.input.offset, np.float32(normalization.mean))


def test_int8_c_of_a_network_with_dead_neurons(tmp_path):
    """Neurons that feed nothing are removed and a neuron with no inputs left is a constant
    act(b), folded into the next layer's bias: an all-zero row still gets its bias right."""
    torch.manual_seed(3)
    mlp = MaskedMLP(5, [32, 16], 4, "silu")
    mlp.hidden[0].mask[::2] = 0.0
    mlp.hidden[1].weight_mask[1:, :] = 0.0
    net = compact(mlp).eval()
    x = observations(5, seed=3)
    policy, quantized = int8_policy(net, x[:2000], tmp_path, {"type": "discrete", "n": 4})
    with policy:
        assert_bit_equal(policy.forward(x), reference(quantized, x)[0])


def test_int8_nan_and_huge_observations_saturate_at_the_input_edge(tmp_path):
    net = random_net("relu", seed=5)
    policy, quantized = int8_policy(net, observations(6, seed=5, n=500), tmp_path)
    x = np.array([[np.nan, 1e30, -1e30, np.inf, -np.inf, 0.0]], dtype=np.float32)
    assert reference_input(quantized, x).tolist() == [
        [-128, 127, -128, 127, -128, int(quantized.input.zero_point[5])]
    ]
    with policy:
        assert_bit_equal(policy.forward(x), reference(quantized, x)[0])


# --- small cases by hand ----------------------------------------------------------------------


def test_a_head_alone_by_hand(tmp_path):
    """2 -> 1, W = [0.5, -1], b = 0.25, inputs calibrated on [-1, 1]: input scale 2/255, zero
    point round(-128 + 127.5) = 0 (half to even); folded row [1/255, -2/255] quantized with
    s_w = (2/255) / 127: Q = [round(63.5) = 64, -127]; B = round(0.25 / s_w) = round(4048.125).
    obs (1, -1): t = (127.5, -127.5), q = (128 -> 127, -127); acc = 4048 + 64 * 127 + 127 * 127
    = 28305; out = 28305 * s_w (float32), 1.74803 against the float 1.75."""
    net = CompactMLP(2, [], 1, "tanh").eval()
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[0.5, -1.0]]))
        net.head.bias.fill_(0.25)
    calibration = np.array([[-1.0, -1.0], [1.0, 1.0]], dtype=np.float32)
    policy, quantized = int8_policy(net, calibration, tmp_path, {"type": "discrete", "n": 1})
    (head,) = quantized.matmuls
    assert head.weight.tolist() == [[64, -127]] and head.bias.tolist() == [4048]
    assert quantized.input.zero_point.tolist() == [0, 0]
    with policy:
        out = policy.forward(np.array([[1.0, -1.0]], dtype=np.float32))
    assert out[0, 0] == np.float32(28305) * np.float32(2 / 255 / 127)
    assert abs(float(out[0, 0]) - 1.74803) < 1e-5


REQUANTIZE_HARNESS = """\
#include <stdio.h>
#include "policy.c"

int main(void)
{
    static const int32_t cases[][4] = {
        {5, 1 << 30, 31, 0}, {-5, 1 << 30, 31, 0}, {3, 1 << 30, 31, 0}, {-3, 1 << 30, 31, 0},
        {5, 1 << 30, 31, -3}, {1000, 1 << 30, 31, 0}, {-1000, 1 << 30, 31, 0},
        {7, 1 << 30, 32, 0}, {6, 1 << 30, 32, 0}, {2147483647, 2147483647, 62, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        printf("%d\\n", (int)rayprune_requantize(cases[i][0], cases[i][1], (int)cases[i][2],
                                                 cases[i][3]));
    }
    return 0;
}
"""


def test_requantization_rounds_once_half_up_and_saturates(tmp_path):
    """rayprune_requantize itself, by hand: acc 2^30 2^-31 = acc / 2 rounded half up (2.5 -> 3,
    -2.5 -> -2, 1.5 -> 2, -1.5 -> -1), the zero point added after rounding, saturation at 127
    and -128; acc / 4 (1.75 -> 2, 1.5 -> 2); the largest product (2^31 - 1)^2 2^-62 -> 1."""
    folder = write_c_policy(
        random_net("relu", seed=0),
        DISCRETE3,
        tmp_path,
        quantize_int8(random_net("relu", seed=0), observations(6, 0, 100)),
    )
    (tmp_path / "harness.c").write_text(REQUANTIZE_HARNESS)
    program = tmp_path / "harness"
    command = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wno-unused-function",
               f"-I{folder}", str(tmp_path / "harness.c"), "-o", str(program)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    out = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["3", "-2", "2", "-1", "0", "127", "-128", "2", "2", "1"]


def test_multiplier_and_input_edge_of_a_relu_network_by_hand(tmp_path):
    """1-1-1 relu, weights 1, biases 0, calibrated on inputs [0, 1]: input scale 1/255, zero
    point -128; the folded weight 1/255 is Q = 127 at s_w = 1/(255 127); the pre-activation
    [0, 1] has scale 1/255, so M = 1/127 = m 2^-37 with m = round(2^37 / 127) = 1082196484;
    B = -Q z = 16256. q_in = floor(255 x + 0.5) - 128, saturated beyond the calibration."""
    net = CompactMLP(1, [1], 1, "relu").eval()
    with torch.no_grad():
        for layer in net.linears:
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    calibration = np.linspace(0, 1, 11, dtype=np.float32)[:, None]
    policy, quantized = int8_policy(net, calibration, tmp_path, {"type": "discrete", "n": 1})
    hidden = quantized.matmuls[0]
    assert hidden.weight.tolist() == [[127]] and hidden.bias.tolist() == [16256]
    assert (hidden.requantize.shift, hidden.requantize.multiplier.tolist()) == (37, [1082196484])
    assert hidden.requantize.zero_point == -128
    x = np.array([[0.0], [0.5], [1.0], [5.0], [-5.0]], dtype=np.float32)
    assert reference_input(quantized, x).ravel().tolist() == [-128, 0, 127, 127, -128]
    with policy:
        assert_bit_equal(policy.forward(x), reference(quantized, x)[0])


# --- the return of a controller, int8 against float -------------------------------------------


def cartpole_controller() -> CompactMLP:
    """A 4-9-9-2 tanh network that balances CartPole (push right when 0.2 x + 0.5 v + 5 angle
    + angular velocity > 0; 500 on every episode in float) through one path of neurons, the
    other weights random."""
    torch.manual_seed(0)
    net = CompactMLP(4, [9, 9], 2, "tanh").eval()
    with torch.no_grad():
        for layer in net.linears:
            layer.weight.mul_(0.3)
        net.hidden[0].weight[0] = torch.tensor([0.2, 0.5, 5.0, 1.0])
        net.hidden[1].weight[0, 0] = 2.0
        net.head.weight[1, 0], net.head.weight[0, 0] = 3.0, -3.0
    return net


def test_int8_loses_little_return_against_float_on_cartpole(tmp_path):
    from rayprune.policy.envs import EnvSpec

    net = cartpole_controller()
    space = {"type": "discrete", "n": 2}
    spec = EnvSpec("CartPole-v1")
    with CPolicy(write_c_policy(net, space, tmp_path / "f")) as exact:
        seen: list = []
        evaluate(exact, spec, 5, seed=100, seen=seen)
        float_return = evaluate(exact, spec, 10, seed=0).mean
    calibration = np.stack(seen).reshape(len(seen), -1)
    policy, _ = int8_policy(net, calibration, tmp_path / "q", space)
    with policy:
        int8_return = evaluate(policy, spec, 10, seed=0).mean
    assert float_return == 500
    assert int8_return >= 0.95 * float_return


# --- bare metal ---------------------------------------------------------------------------------

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
M0 = ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]
STRICT = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]
needs_arm = pytest.mark.skipif(
    any(
        shutil.which(t) is None
        for t in ("arm-none-eabi-gcc", "arm-none-eabi-nm", "arm-none-eabi-objdump")
    ),
    reason="arm-none-eabi-gcc missing (gcc-arm-none-eabi, libnewlib-arm-none-eabi)",
)


def cross_object(folder: Path, flags: list[str]) -> Path:
    obj = folder / "policy.o"
    command = [
        "arm-none-eabi-gcc",
        *STRICT,
        *flags,
        f"-I{folder}",
        "-c",
        str(folder / SOURCE_FILE),
        "-o",
        str(obj),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return obj


def variants(tmp_path: Path) -> list[tuple[Path, bool]]:
    """(folder, int8) for every activation, float and int8, low-rank and normalized ones."""
    found = []
    for i, activation in enumerate(ACTIVATIONS):
        net = random_net(activation, seed=i, ranks=[None, 3, None] if i % 2 else None)
        normalization = ObsNormalization((0.5,) * 6, (2.0,) * 6) if i % 2 == 0 else None
        x = observations(6, seed=i, n=500)
        quantized = quantize_int8(net, x, normalization)
        for int8 in (False, True):
            folder = tmp_path / f"{activation}-{int8}"
            write_c_policy(net, DISCRETE3, folder, quantized if int8 else None, normalization)
            found.append((folder, int8))
    return found


@pytest.mark.slow  # a cross compiler or qemu: apt packages
@needs_arm
@pytest.mark.parametrize("opt", ["-O2", "-Os"])
def test_cortex_m4_objects_need_nothing_linked(opt, tmp_path):
    """No libm, no memset or memcpy (which gcc makes of zeroing or copying loops)."""
    for folder, _ in variants(tmp_path):
        obj = cross_object(folder, [*M4, opt])
        undefined = subprocess.run(
            ["arm-none-eabi-nm", "-u", str(obj)], capture_output=True, text=True
        )
        assert undefined.returncode == 0 and undefined.stdout.strip() == "", (
            folder,
            undefined.stdout,
        )


# libgcc's float and double helpers and conversions (__aeabi_fmul, __aeabi_dadd, __aeabi_i2f,
# __aeabi_f2iz, ...); its integer ones (__aeabi_lmul: the M0 has no 32 x 32 -> 64 multiply) are
# integer arithmetic
SOFT_FLOAT = re.compile(r"<__aeabi_(f|d|[ul]*i2[fd]|[ul]*l2[fd])")


def functions(disassembly: str) -> dict[str, str]:
    """objdump -d's text per function."""
    parts = re.split(r"^[0-9a-f]+ <([^>]+)>:$", disassembly, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.mark.slow  # a cross compiler or qemu: apt packages
@needs_arm
def test_cortex_m0_hidden_layers_call_no_soft_float(tmp_path):
    """Built for a Cortex-M0+ (no FPU) without inlining, so each layer is its own function: the
    layers and the requantization call no soft-float helper; float stays at the edges."""
    for folder, int8 in variants(tmp_path):
        if not int8:
            continue
        obj = cross_object(folder, [*M0, "-O2", "-fno-inline"])
        dump = subprocess.run(
            ["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True
        )
        found = functions(dump.stdout)
        layers = {name: text for name, text in found.items() if name.startswith("rayprune_layer")}
        requantize = [name for name in found if name.startswith("rayprune_requantize")]
        assert layers and requantize
        for name in [*layers, *requantize]:
            assert not SOFT_FLOAT.search(found[name]), (folder, name)
        assert SOFT_FLOAT.search(found["rayprune_quantize_input"])  # the edge: float on purpose


@pytest.mark.slow  # a cross compiler or qemu: apt packages
@needs_arm
@pytest.mark.slow  # a cross compiler or qemu: apt packages
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm missing")
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_cortex_m4_dsp_path_equals_the_reference_bit_for_bit(activation, tmp_path):
    """On a Cortex-M4F (emulated, rayprune.policy.chip) the matmuls run two products per SMLAD
    and saturate with SSAT (the C's __ARM_FEATURE_DSP / _SAT paths; the host builds above take
    the plain C): the same bits as the reference, at -O2 as at -Os."""
    net = random_net(activation, seed=21, ranks=[None, 3, 1] if activation == "relu" else None)
    x = observations(6, seed=22, n=300)
    quantized = quantize_int8(net, x)
    folder = write_c_policy(net, DISCRETE3, tmp_path, quantized)
    dump = subprocess.run(
        ["arm-none-eabi-objdump", "-d", str(cross_object(folder, [*M4, "-Os"]))],
        capture_output=True,
        text=True,
    ).stdout
    assert "smlad" in dump and "ssat" in dump
    with Chip(folder, "m4") as chip:
        out = chip.forward(x)
    assert_bit_equal(out, reference(quantized, x)[0])

"""The generated C policy (rayprune.policy.c_export) against independent references: torch's
forward of the same CompactMLP (or of the MaskedMLP it was compacted from), onnxruntime on the
exported ONNX graph, NumPy's activations (the C's own approximations of tanh and exp). Builds
with gcc at -O2 and -std=c99 -pedantic -Wall -Wextra -Werror, so a warning fails a test. The
int8 C against its integer reference: test_c_int8.py.

Tolerance 1e-5 absolute: the C sums each output over its inputs in order, torch/onnxruntime
in their own blocked order, so float32 rounding differs by a few ulps of the largest partial sum
(measured <= 4e-6 on outputs up to ~30, the largest these tests reach); the tanh approximation
adds <= 4.4e-7.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from rayprune.policy.c_export import (
    HEADER_FILE,
    SOURCE_FILE,
    c_float,
    code_size,
    write_c_policy,
)
from rayprune.policy.c_runtime import (
    CompilerMissing,
    CPolicy,
    ToolError,
    compile_shared,
    cortex_m4_flash_bytes,
    run_under_qemu,
    time_forward,
)
from rayprune.policy.quantize import quantize_int8
from rayprune.pruning.compaction import CompactMLP, compact
from rayprune.pruning.masked_mlp import MaskedMLP
from tests.unit.nets import ACTIVATIONS, ATOL, observations, random_net, torch_out

GCC_FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-aarch64") is None or shutil.which("aarch64-linux-gnu-gcc") is None,
    reason="qemu-aarch64 or aarch64-linux-gnu-gcc missing (qemu-user, gcc-aarch64-linux-gnu)",
)
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("arm-none-eabi-size") is None,
    reason="arm-none-eabi-gcc missing (gcc-arm-none-eabi, libnewlib-arm-none-eabi)",
)
pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc missing")


def discrete(n: int) -> dict:
    return {"type": "discrete", "n": n}


def box(low: list[float], high: list[float]) -> dict:
    return {"type": "box", "shape": [len(low)], "low": low, "high": high}


def c_policy(net: CompactMLP, space: dict, folder: Path, **kwargs) -> CPolicy:
    return CPolicy(write_c_policy(net, space, folder, **kwargs))


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


# --- float32 C against torch and onnxruntime -------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float_c_equals_torch_with_a_discrete_head(activation, tmp_path):
    net = random_net(activation, seed=ACTIVATIONS.index(activation))
    x = observations(6, seed=1)
    expected = torch_out(net, x)
    with c_policy(net, discrete(3), tmp_path) as policy:
        assert max_diff(policy.forward(x), expected) <= ATOL
        assert np.array_equal(policy.act(x), expected.argmax(axis=1))


@pytest.mark.parametrize("activation", ["tanh", "elu"])
def test_float_c_equals_torch_with_low_rank_layers(activation, tmp_path):
    net = random_net(activation, seed=7, ranks=[None, 3, 1])
    x = observations(6, seed=2)
    with c_policy(net, discrete(3), tmp_path) as policy:
        assert max_diff(policy.forward(x), torch_out(net, x)) <= ATOL


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_outputs_do_not_depend_on_the_optimization_level(activation, tmp_path):
    """-std=c99 fuses no multiply-adds: -O3 -march=native (vectorized) gives the same bits."""
    net = random_net(activation, seed=8, ranks=[None, 5, None])
    folder = write_c_policy(net, box([-1.0] * 3, [1.0] * 3), tmp_path)
    x = observations(6, seed=8)
    with CPolicy(folder) as o2, CPolicy(folder, ("-O3", "-march=native")) as o3:
        assert np.array_equal(o2.forward(x), o3.forward(x))
        assert np.array_equal(o2.act(x), o3.act(x))


def test_float_c_equals_the_masked_network_it_was_compacted_from(tmp_path):
    """Masked neurons, and dead ones (pruned single weights) folded into biases."""
    torch.manual_seed(3)
    mlp = MaskedMLP(5, [32, 16], 4, "silu")
    generator = torch.Generator().manual_seed(3)
    for layer in mlp.hidden:
        layer.mask[
            torch.randperm(layer.out_features, generator=generator)[: layer.out_features // 2]
        ] = 0.0
    mlp.hidden[1].mask[0] = 1.0
    mlp.hidden[1].weight_mask[1:, :] = 0.0  # layer 2's neurons but the first output act(b)
    mlp.hidden[1].weight_mask[:, :8] = 0.0  # layer 1's first 8 neurons feed nothing
    net = compact(mlp).eval()
    assert net.hidden_sizes[0] < 16 and net.hidden_sizes[1] == 1
    x = observations(5, seed=3)
    with c_policy(net, discrete(4), tmp_path) as policy:
        assert max_diff(policy.forward(x), torch_out(mlp, x)) <= ATOL


def test_box_actions_are_means_clipped_to_finite_bounds_only(tmp_path):
    torch.manual_seed(5)
    net = CompactMLP(6, [12, 7], 4, "tanh").eval()
    inf = float("inf")
    space = box([-0.2, -inf, 0.05, -inf], [0.2, inf, inf, 0.1])
    x = observations(6, seed=5)
    expected = torch_out(net, x)
    low = np.array(space["low"], dtype=np.float32)
    high = np.array(space["high"], dtype=np.float32)
    with c_policy(net, space, tmp_path) as policy:
        means, actions = policy.forward(x), policy.act(x)
    assert max_diff(means, expected) <= ATOL
    assert max_diff(actions, np.clip(expected, low, high)) <= ATOL
    # where the mean is clearly out of bounds the action is the bound itself, bit for bit
    below, above = expected < low - ATOL, expected > high + ATOL
    assert below[:, 0].any() and above[:, 0].any() and above[:, 3].any()
    assert np.array_equal(actions[below], np.broadcast_to(low, actions.shape)[below])
    assert np.array_equal(actions[above], np.broadcast_to(high, actions.shape)[above])
    assert "inf" not in (tmp_path / SOURCE_FILE).read_text().lower()


def test_box_with_infinite_bounds_acts_with_the_means(tmp_path):
    net = random_net("relu", seed=6)
    x = observations(6, seed=6)
    space = box([-float("inf")] * 3, [float("inf")] * 3)
    with c_policy(net, space, tmp_path) as policy:
        assert np.array_equal(policy.act(x), policy.forward(x))


def test_argmax_takes_the_first_of_tied_logits_like_numpy(tmp_path):
    """A head without hidden layers whose rows repeat: integer inputs tie logits exactly."""
    net = CompactMLP(2, [], 4, "tanh").eval()
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
        net.head.bias.zero_()
    x = np.random.default_rng(0).integers(-3, 4, size=(1000, 2)).astype(np.float32)
    with c_policy(net, discrete(4), tmp_path) as policy:
        assert np.array_equal(
            policy.act(x), (x @ net.head.weight.detach().numpy().T).argmax(axis=1)
        )
        assert set(policy.act(x)) == {0, 2}


def test_argmax_takes_the_first_nan_like_numpy(tmp_path):
    """0 * inf is NaN: an infinite observation makes some logits NaN, some infinite."""
    net = CompactMLP(2, [], 3, "tanh").eval()
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net.head.bias.zero_()
    inf = float("inf")
    x = np.array([[inf, 1.0], [1.0, inf], [-inf, 2.0], [1.0, 2.0]], dtype=np.float32)
    with c_policy(net, discrete(3), tmp_path) as policy:
        logits = policy.forward(x)
        assert np.isnan(logits).any(axis=1)[:3].all()
        assert np.array_equal(policy.act(x), logits.argmax(axis=1))


def export_onnx(net: CompactMLP, path: Path) -> None:
    """The graph as rayprune's export writes it (artifact._write_onnx's settings)."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(), (torch.zeros(2, net.linears[0].in_features),), str(path),
            input_names=["obs"], output_names=["action_logits"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True, external_data=False, verbose=False,
        )  # fmt: skip


def test_float_c_equals_onnxruntime_on_a_compacted_cartpole_policy(tmp_path):
    """The benchmark's 4-128-128-2 actor with 93% of its neurons masked: 4-9-9-2 tanh."""
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [128, 128], 2)
    generator = torch.Generator().manual_seed(0)
    for layer in mlp.hidden:
        layer.mask[torch.randperm(128, generator=generator)[9:]] = 0.0
    net = compact(mlp).eval()
    assert net.hidden_sizes == [9, 9]
    export_onnx(net, tmp_path / "policy.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(tmp_path / "policy.onnx"), options)
    x = observations(4, seed=9, n=20_000)
    expected = session.run(None, {"obs": x})[0]
    write_c_policy(net, discrete(2), tmp_path / "c")
    with CPolicy(tmp_path) as policy:  # a compact_policy folder: its c/ is found
        assert max_diff(policy.forward(x), expected) <= ATOL
        assert np.array_equal(policy.act(x), expected.argmax(axis=1))


# --- tanh and sigmoid approximations ----------------------------------------------------------


def activation_alone(activation: str, folder: Path) -> CPolicy:
    """1-1-1 network, weights 1 and biases 0: its output is the C activation itself, exactly
    (x * 1 + 0 = x in float32)."""
    net = CompactMLP(1, [1], 1, activation)
    with torch.no_grad():
        for layer in net.linears:
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    return c_policy(net, discrete(1), folder)


def test_tanh_approximation_error_is_bounded(tmp_path):
    """The degree-7/8 minimax rational tanh (c_float.py): measured max abs error 4.4e-7 over
    [-20, 20] (at |x| = 7.669, where it saturates), 22x below ATOL; exactly odd, never beyond
    +-1 (checked on every float32 in [6.5, 8.5], around the saturation), +-1 beyond, a NaN
    through."""
    x = np.linspace(-20.0, 20.0, 4_000_001, dtype=np.float32)
    near = np.arange(*np.float32([6.5, 8.5]).view(np.int32), dtype=np.int32).view(np.float32)
    with activation_alone("tanh", tmp_path) as policy:
        y = policy.forward(x)[:, 0]
        y_near = policy.forward(near)[:, 0]
        special = policy.forward(np.array([20.0, -20.0, 1e30, -1e30, np.nan], dtype=np.float32))
    assert np.abs(y - np.tanh(x.astype(np.float64))).max() <= 4.5e-7
    assert np.abs(y_near - np.tanh(near.astype(np.float64))).max() <= 4.5e-7
    assert np.array_equal(y, -y[::-1])  # odd, exactly
    assert np.abs(y).max() <= 1.0 and y_near.max() <= 1.0
    assert list(special[:4, 0]) == [1.0, -1.0, 1.0, -1.0] and np.isnan(special[4, 0])


def test_sigmoid_from_tanh_error_is_bounded(tmp_path):
    """0.5 + 0.5 tanh(x / 2): half tanh's error plus one rounding; measured 2.3e-7."""
    x = np.linspace(-20.0, 20.0, 4_000_001, dtype=np.float32)
    with activation_alone("sigmoid", tmp_path) as policy:
        y = policy.forward(x)[:, 0]
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert np.abs(y - exact).max() <= 3e-7


def test_elu_without_libm_error_is_bounded(tmp_path):
    """elu(x) = e^x - 1 for x <= 0 through Cephes' expf: measured max abs error 1.1e-7 (the
    polynomial's 1e-7 relative error, and float32's rounding of e^x - 1 near 0)."""
    x = np.linspace(-100.0, 5.0, 2_000_001, dtype=np.float32)
    with activation_alone("elu", tmp_path) as policy:
        y = policy.forward(x)[:, 0]
        special = policy.forward(np.array([np.nan, -np.inf, -1e30], dtype=np.float32))
    exact = np.where(x > 0, x, np.expm1(np.minimum(x.astype(np.float64), 0)))
    assert np.abs(y - exact).max() <= 1.5e-7
    assert np.isnan(special[0, 0]) and list(special[1:, 0]) == [-1.0, -1.0]


def test_exp_without_libm_relative_error_is_bounded(tmp_path):
    """silu(x) = x / (1 + e^-x): Cephes' expf has max relative error 2.4e-7 (about 2 ulp) on
    [-87, 88]; through silu, measured max relative error 2.4e-7 over [-80, 80]."""
    x = np.linspace(-80.0, 80.0, 2_000_001, dtype=np.float32)
    x = x[x != 0]
    with activation_alone("silu", tmp_path) as policy:
        y = policy.forward(x)[:, 0].astype(np.float64)
    x64 = x.astype(np.float64)
    exact = x64 / (1.0 + np.exp(-x64))
    assert np.abs(y / exact - 1.0).max() <= 3e-7


# --- the generated source ---------------------------------------------------------------------


def test_float_literals_round_trip_float32_exactly():
    bits = np.random.default_rng(0).integers(0, 2**32, size=20_000, dtype=np.uint64)
    values = bits.astype(np.uint32).view(np.float32)
    values = np.concatenate([values[np.isfinite(values)], np.float32([0.0, -0.0, 1.0, 1e-45])])
    for value in values:
        text = c_float(value)
        assert re.fullmatch(r"-?\d+(\.\d*)?(e[-+]\d+)?f", text), text
        assert np.float32(float(text[:-1])).tobytes() == value.tobytes()
    assert c_float(1.0) == "1.0f" and c_float(-0.0) == "-0.0f"


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan")])
def test_non_finite_weights_are_refused(value, tmp_path):
    net = random_net("tanh", seed=0)
    with torch.no_grad():
        net.hidden[1].weight[2, 3] = value
    with pytest.raises(ValueError, match="finite"):
        write_c_policy(net, discrete(3), tmp_path)
    with pytest.raises(ValueError):
        c_float(value)


def statements(source: str) -> list[str]:
    """The file-scope declarations and function definitions of C source, comments and
    preprocessor lines removed."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    found, depth, current = [], 0, ""
    for char in source:
        current += char
        depth += {"{": 1, "}": -1}.get(char, 0)
        head = current.split("{")[0]
        ends_function = char == "}" and depth == 0 and "(" in head and "=" not in head
        if ends_function or (char == ";" and depth == 0):
            found.append(" ".join(current.split()))
            current = ""
    assert not current.strip()
    return found


def source_variants(tmp_path: Path) -> list[Path]:
    """Float and int8, Discrete and Box, every activation, low-rank layers and none."""
    folders = []
    for i, activation in enumerate(ACTIVATIONS):
        net = random_net(activation, seed=i, ranks=[None, 3, None] if i % 2 else None)
        space = discrete(3) if i % 2 else box([-1.0, -float("inf"), 0.0], [1.0, float("inf"), 2.0])
        quantized = quantize_int8(net, observations(6, seed=i, n=500))
        folders.append(write_c_policy(net, space, tmp_path / f"{activation}-float"))
        folders.append(write_c_policy(net, space, tmp_path / f"{activation}-int8", quantized))
    return folders


def test_sources_compile_clean_and_keep_no_writable_state(tmp_path):
    for folder in source_variants(tmp_path):
        source = (folder / SOURCE_FILE).read_text()
        command = ["gcc", *GCC_FLAGS, "-c", str(folder / SOURCE_FILE), "-o", str(folder / "p.o")]
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr, done.stderr
        assert not re.search(r"\b(malloc|calloc|realloc|free)\b", source)
        for statement in statements(source):
            head = statement.split("{")[0]
            if "(" in head and "=" not in head:  # a function: no static (persistent) locals
                assert "static" not in statement[len(head) :], statement
            else:
                assert statement.startswith("static const "), statement
        int8 = folder.name.endswith("int8")
        assert ("static const int8_t rayprune_q0[" in source) == int8
        assert code_size(folder) == len(source) + len((folder / HEADER_FILE).read_bytes())


def test_header_declares_the_api(tmp_path):
    folder = write_c_policy(random_net("tanh", 0), discrete(3), tmp_path / "d")
    header = (folder / HEADER_FILE).read_text()
    assert "#define RAYPRUNE_OBS_DIM 6" in header and "#define RAYPRUNE_OUT_DIM 3" in header
    assert "void rayprune_forward(const float *obs, float *out);" in header
    assert "int rayprune_act_discrete(const float *obs);" in header
    folder = write_c_policy(random_net("tanh", 0), box([-1.0] * 3, [1.0] * 3), tmp_path / "b")
    assert (
        "void rayprune_act_box(const float *obs, float *action);"
        in (folder / HEADER_FILE).read_text()
    )


def test_a_head_that_does_not_fit_the_action_space_is_refused(tmp_path):
    with pytest.raises(ValueError, match="3 outputs"):
        write_c_policy(random_net("tanh", 0), discrete(2), tmp_path)


# --- int8 -------------------------------------------------------------------------------------


def test_int8_source_stores_int8_weights_int32_biases_and_one_table_per_distinct_range(tmp_path):
    net = random_net("tanh", seed=41)
    quantized = quantize_int8(net, observations(6, seed=41, n=100))
    source = (write_c_policy(net, discrete(3), tmp_path, quantized) / SOURCE_FILE).read_text()
    for k, (n_out, n_in) in enumerate([(12, 6), (7, 12), (3, 7)]):
        assert f"static const int8_t rayprune_q{k}[{n_out * n_in}]" in source
        assert f"static const int32_t rayprune_b{k}[{n_out}]" in source
    tables = re.findall(r"static const int8_t rayprune_table\d+\[256\]", source)
    distinct = {m.table.tobytes() for m in quantized.matmuls if m.table is not None}
    assert len(tables) == len(distinct) >= 1


def test_quantized_network_must_match_the_network(tmp_path):
    quantized = quantize_int8(random_net("tanh", 0), observations(6, seed=0, n=10))
    with pytest.raises(ValueError, match="does not match"):
        write_c_policy(random_net("relu", 0), discrete(3), tmp_path, quantized)


# --- builds: warnings, missing tools, clean-up, cross targets ---------------------------------


def test_a_warning_fails_the_build(tmp_path):
    folder = write_c_policy(random_net("tanh", 0), discrete(3), tmp_path / "c")
    with (folder / SOURCE_FILE).open("a") as source:
        source.write("\nint rayprune_unused(void) { int unused; return 0; }\n")
    with pytest.raises(ToolError, match="unused"):
        compile_shared(folder, tmp_path)


def test_a_missing_compiler_is_a_one_line_error(tmp_path, monkeypatch):
    folder = write_c_policy(random_net("tanh", 0), discrete(3), tmp_path / "c")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CompilerMissing, match="gcc is not installed") as caught:
        compile_shared(folder, tmp_path)
    assert "\n" not in str(caught.value)
    assert cortex_m4_flash_bytes(folder) is None
    with pytest.raises(CompilerMissing, match="qemu-user|gcc-aarch64-linux-gnu"):
        run_under_qemu(folder, np.zeros((1, 6), dtype=np.float32))


def test_policies_built_one_after_another_each_run_their_own_weights(tmp_path):
    """Each closed policy's library is unloaded before its file is deleted, so a new build
    (whose file may get the old inode) is never mistaken for a loaded one."""
    x = observations(6, seed=50, n=200)
    before = set(Path(tempfile.gettempdir()).glob("rayprune-c-*"))
    for i in range(6):
        net = random_net("tanh", seed=100 + i)
        with c_policy(net, discrete(3), tmp_path / str(i)) as policy:
            assert max_diff(policy.forward(x), torch_out(net, x)) <= ATOL
    assert set(Path(tempfile.gettempdir()).glob("rayprune-c-*")) == before
    with pytest.raises(ValueError, match="closed"):
        policy.forward(x)


def test_timing_loop_reports_latency_and_throughput(tmp_path):
    folder = write_c_policy(random_net("tanh", 0), discrete(3), tmp_path)
    timing = time_forward(
        folder, observations(6, seed=0, n=256), blocks=50, calls_per_block=10, passes=3
    )
    assert 0 < timing.p50_ns <= timing.p99_ns
    assert timing.throughput > 0 and timing.batch == 256 and timing.blocks == 50


@pytest.mark.slow  # a cross compiler or qemu: apt packages
@needs_qemu
@pytest.mark.parametrize("int8", [False, True])
def test_aarch64_build_under_qemu_gives_the_same_outputs(int8, tmp_path):
    net = random_net("tanh", seed=61, ranks=[None, 3, 1])
    x = observations(6, seed=62)
    quantized = quantize_int8(net, x[:1000]) if int8 else None
    folder = write_c_policy(net, discrete(3), tmp_path, quantized)
    if int8:  # the same integers on aarch64: the same bits
        with CPolicy(folder) as host:
            assert np.array_equal(run_under_qemu(folder, x), host.forward(x))
    else:
        assert max_diff(run_under_qemu(folder, x), torch_out(net, x)) <= ATOL


def cartpole_compact(seed: int = 0) -> CompactMLP:
    torch.manual_seed(seed)
    return CompactMLP(4, [9, 9], 2, "tanh").eval()


@pytest.mark.slow  # a cross compiler or qemu: apt packages
@needs_arm
def test_cortex_m4_flash_of_the_int8_policies(tmp_path):
    """4-128-128-2, where weights dominate: int8 below 1/3 of float. 4-9-9-2: code, the
    256-byte activation table and the int32 biases and multipliers are most of it, and int8
    (measured 1,400 B, its small layers' weights as int16 pairs for SMLAD) is above float
    (1,200 B): asserted within 1.5 KB."""
    for name, net in (("compact", cartpole_compact()), ("dense", CompactMLP(4, [128, 128], 2))):
        quantized = quantize_int8(net, observations(4, seed=0, n=1000))
        flash_float = cortex_m4_flash_bytes(
            write_c_policy(net, discrete(2), tmp_path / f"{name}-f")
        )
        flash_int8 = cortex_m4_flash_bytes(
            write_c_policy(net, discrete(2), tmp_path / f"{name}-q", quantized)
        )
        if name == "compact":
            assert flash_int8 <= 1536
        else:
            assert flash_int8 <= flash_float / 3

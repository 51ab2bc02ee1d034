"""The C in every policy folder, `rayprune eval --runtime c` and `rayprune export`, through the
command line as a user runs them (gcc needed; the C generator itself: test_c_export.py)."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EvalResult,
    OnnxPolicy,
    describe_policy,
    export_compact_policy,
    read_info,
)
from rayprune.policy.c_runtime import CPolicy
from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, compact
from tests.cli import one_line_error, rayprune

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@pytest.fixture(scope="module")
def cartpole_policy(tmp_path_factory):
    """A CartPole-shaped 4-16-16-2 actor, a quarter of its neurons masked, exported as a sweep
    exports it (random weights: its episodes are short, but real)."""
    torch.manual_seed(3)
    mlp = MaskedMLP(4, [16, 16], 2)
    mlp.hidden[0].mask[:4] = 0
    mlp.hidden[1].mask[::4] = 0
    net = compact(mlp)
    spec = PruningSpec("dsp", 1e-4, PruningSchedule(0.25, 1, 2))
    spaces = EnvSpaces(4, ActionSpace("discrete", n=2))
    info = describe_policy(mlp, net, spec, "CartPole-v1", spaces, EvalResult([9.0] * 5))
    return export_compact_policy(net, tmp_path_factory.mktemp("p") / "compact_policy", info)


def test_every_policy_folder_holds_c_equal_to_its_onnx_graph(cartpole_policy):
    assert sorted(p.name for p in (cartpole_policy / "c").iterdir()) == ["policy.c", "policy.h"]
    assert read_info(cartpole_policy).c_code_bytes == sum(
        p.stat().st_size for p in (cartpole_policy / "c").iterdir()
    )
    obs = np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32) * 2
    with CPolicy(cartpole_policy) as c:
        np.testing.assert_allclose(
            c.forward(obs), OnnxPolicy(cartpole_policy).outputs(obs), atol=1e-5
        )


def returns(proc) -> str:
    assert proc.returncode == 0, proc.stderr
    return re.search(r"return (\S+ \+- \S+) over", proc.stdout).group(1)


@pytest.mark.slow
def test_eval_through_the_compiled_c_gives_the_onnx_returns(cartpole_policy, tmp_path):
    onnx = rayprune("eval", cartpole_policy, "--episodes", "8", "--seed", "5", cwd=tmp_path)
    c = rayprune("eval", cartpole_policy, "--episodes", "8", "--seed", "5", "--runtime", "c", cwd=tmp_path)  # fmt: skip
    assert returns(c) == returns(onnx)
    assert "(c, float32)" in c.stdout and "(onnx, float32)" in onnx.stdout


@pytest.mark.slow
def test_export_int8_writes_a_policy_folder_with_int8_c(cartpole_policy, tmp_path):
    out = tmp_path / "int8"
    proc = rayprune("export", cartpole_policy, "--out", out, "--calibration-episodes", "3", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = read_info(out)
    assert (info.dtype, info.quantized_runtime) == ("int8", "c")
    assert info.float_eval_return_mean == 9.0  # what the source folder recorded
    assert "static const int8_t" in (out / "c" / "policy.c").read_text()

    def api(folder):  # the defines and prototypes a caller compiles against
        text = (folder / "c" / "policy.h").read_text()
        return [line for line in text.splitlines() if line.startswith(("#define", "void", "int"))]

    assert api(out) == api(cartpole_policy) and len(api(out)) >= 4
    proc = rayprune("eval", out, "--runtime", "c", "--episodes", "3", cwd=tmp_path)
    assert proc.returncode == 0 and "(c, int8)" in proc.stdout, proc.stderr
    assert json.loads((out / "compression.json").read_text())["dtype"] == "int8"


@pytest.mark.slow
def test_export_onnx_int8_uses_onnxruntimes_quantizer(cartpole_policy, tmp_path):
    out = tmp_path / "onnx8"
    proc = rayprune("export", cartpole_policy, "--out", out, "--target", "onnx", "--calibration-episodes", "2", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert read_info(out).quantized_runtime == "onnx"
    obs = np.random.default_rng(1).normal(size=(256, 4)).astype(np.float32)
    float_out = OnnxPolicy(cartpole_policy).outputs(obs)
    int8_out = OnnxPolicy(out).outputs(obs)
    assert not np.array_equal(int8_out, float_out)  # a different graph ...
    np.testing.assert_allclose(int8_out, float_out, atol=0.05 * np.abs(float_out).max())


def corrupt_weights(folder: Path) -> None:
    (folder / "policy.safetensors").write_bytes(b"\x00garbage")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--target", "fpga"], "--target 'fpga' is not one of c, onnx"),
        (["--dtype", "int4"], "--dtype 'int4' is not one of int8"),
        (["--dtype", "float32"], "--dtype 'float32' is not one of int8"),
    ],
)
@pytest.mark.slow
def test_export_refuses_bad_options_in_one_line(cartpole_policy, tmp_path, args, fragment):
    proc = rayprune("export", cartpole_policy, "--out", tmp_path / "o", *args, cwd=tmp_path)
    one_line_error(proc, fragment)
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.slow
def test_export_refuses_bad_folders_and_writes_nothing(cartpole_policy, tmp_path):
    proc = rayprune("export", tmp_path, "--out", tmp_path / "o", cwd=tmp_path)
    one_line_error(proc, "compression.json is missing")
    taken = tmp_path / "taken"
    taken.mkdir()
    proc = rayprune("export", cartpole_policy, "--out", taken, cwd=tmp_path)
    one_line_error(proc, "exists; refusing to overwrite it")
    broken = tmp_path / "broken"
    shutil.copytree(cartpole_policy, broken)
    corrupt_weights(broken)
    proc = rayprune("export", broken, "--out", tmp_path / "o", cwd=tmp_path)
    one_line_error(proc, "cannot read")
    assert sorted(os.listdir(tmp_path)) == ["broken", "taken"]  # no out, no staging folder


@pytest.mark.slow
def test_a_folder_without_its_environment_is_one_line(cartpole_policy, tmp_path):
    """compression.json of an earlier rayprune 0.x has no 'environment': refused, not guessed."""
    old = tmp_path / "old"
    shutil.copytree(cartpole_policy, old)
    info = json.loads((old / "compression.json").read_text())
    del info["environment"]
    (old / "compression.json").write_text(json.dumps(info))
    missing = "incomplete: missing 'environment'"
    one_line_error(rayprune("eval", old, cwd=tmp_path), missing)
    one_line_error(rayprune("eval", old, "--env", "CartPole-v1", cwd=tmp_path), missing)
    one_line_error(rayprune("export", old, "--out", tmp_path / "o", cwd=tmp_path), missing)
    assert sorted(os.listdir(tmp_path)) == ["old"]


@pytest.mark.slow
def test_a_missing_compiler_is_one_line(cartpole_policy, tmp_path):
    proc = rayprune("eval", cartpole_policy, "--runtime", "c", cwd=tmp_path, env={"PATH": "/nonexistent"})  # fmt: skip
    one_line_error(proc, "gcc is not installed (Debian package gcc)")

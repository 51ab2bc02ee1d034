"""A policy's C on an emulated Cortex-M (rayprune.policy.chip): closed-loop episodes against
onnxruntime's, outputs against onnxruntime's, the instruction counter against counts made by
hand on hand-written assembly, and the one-line errors. Starts qemu-system-arm (each run well
under a second); skips, naming the Debian packages, where the tools are missing."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rayprune.errors import CompilerMissing
from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EvalResult,
    OnnxPolicy,
    describe_policy,
    evaluate,
    export_compact_policy,
)
from rayprune.policy.chip import (
    Chip,
    ChipError,
    ChipPolicy,
    InstructionCount,
    count_instructions,
)
from rayprune.policy.chip import session as chip_session
from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, compact
from tests.cli import one_line_error, rayprune

TOOLS = {
    "qemu-system-arm": "qemu-system-arm",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "gcc": "gcc",
}
MISSING = [package for name, package in TOOLS.items() if shutil.which(name) is None]
pytestmark = [
    pytest.mark.slow,  # qemu-system-arm and a cross compiler: apt packages
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (Debian)"),
]
EPISODES = 5


def export(folder: Path, env: str, obs_dim: int, action_space: ActionSpace) -> Path:
    """A tanh actor obs_dim-16-16-out with a quarter of its neurons masked, exported as a sweep
    exports it (random weights: short episodes, but real ones)."""
    torch.manual_seed(3)
    mlp = MaskedMLP(obs_dim, [16, 16], action_space.width)
    mlp.hidden[0].mask[:4] = 0
    mlp.hidden[1].mask[::4] = 0
    net = compact(mlp)
    spec = PruningSpec("dsp", 1e-4, PruningSchedule(0.25, 1, 2))
    spaces = EnvSpaces(obs_dim, action_space)
    info = describe_policy(mlp, net, spec, env, spaces, EvalResult([9.0] * EPISODES))
    return export_compact_policy(net, folder / "compact_policy", info)


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory) -> Path:
    return export(tmp_path_factory.mktemp("cp"), "CartPole-v1", 4, ActionSpace("discrete", n=2))


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory) -> Path:
    box = ActionSpace("box", shape=(1,), low=(-2.0,), high=(2.0,))
    return export(tmp_path_factory.mktemp("pd"), "Pendulum-v1", 3, box)


def assembly_policy(folder: Path, body: str) -> Path:
    """A c/ folder whose rayprune_forward (2 floats in, 1 out) is the Thumb assembly `body`
    (Thumb-1 only, so both chips run it)."""
    folder.mkdir()
    (folder / "policy.h").write_text(
        "#define RAYPRUNE_OBS_DIM 2\n#define RAYPRUNE_OUT_DIM 1\n#define RAYPRUNE_BOX 1\n"
        "void rayprune_forward(const float *obs, float *out);\n"
    )
    lines = "".join(f'    "  {line}\\n"\n' for line in body.strip().splitlines())
    (folder / "policy.c").write_text(
        '#include "policy.h"\n__asm__(\n    "  .text\\n  .syntax unified\\n  .thumb\\n"\n'
        '    "  .global rayprune_forward\\n  .type rayprune_forward, %function\\n"\n'
        f'    "  .thumb_func\\nrayprune_forward:\\n"\n{lines});\n'
    )
    return folder


# out[0] = obs[1], then a loop of 3 rounds: 1 + 1 + 1 + 3 * 2 + 1 = 10 instructions by hand
COPY_AND_LOOP = """
ldr r2, [r0, #4]
str r2, [r1]
movs r3, #3
1: subs r3, r3, #1
bne 1b
bx lr
"""


class Recording:
    """A policy that keeps what its wrapped policy output on each step of the loop."""

    def __init__(self, policy) -> None:
        self.policy, self.spaces, self.trained_on = policy, policy.spaces, policy.trained_on
        self.outputs: list[np.ndarray] = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.outputs.append(self.policy.outputs(obs))
        return self.policy.spaces.action_space.actions(self.outputs[-1])


# --- closed loop against onnxruntime ---------------------------------------------------------


@pytest.fixture(scope="module")
def on_m4(cartpole) -> tuple[EvalResult, InstructionCount]:
    """CartPole's episodes 0.. played on the M4, and what the decisions cost."""
    with ChipPolicy(cartpole, "m4") as chip:
        result = evaluate(chip, "CartPole-v1", EPISODES, seed=0)
    return result, chip.count


def test_m4_plays_the_same_episodes_as_onnxruntime(cartpole, on_m4):
    result, count = on_m4
    assert result.returns == evaluate(OnnxPolicy(cartpole), "CartPole-v1", EPISODES, 0).returns
    assert count.calls == sum(result.returns)  # CartPole: reward 1 per decision


def test_box_outputs_on_m4_equal_onnxruntime_over_the_loop(pendulum):
    seen: list[np.ndarray] = []
    with ChipPolicy(pendulum, "m4") as policy:
        chip = Recording(policy)
        evaluate(chip, "Pendulum-v1", 2, seed=0, seen=seen)
    expected = OnnxPolicy(pendulum).outputs(np.concatenate(seen))
    np.testing.assert_allclose(np.concatenate(chip.outputs), expected, rtol=0, atol=1e-5)


def test_m0_soft_float_takes_the_same_actions_as_m4(cartpole):
    obs = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32) * 2
    with Chip(cartpole, "m4") as m4, Chip(cartpole, "m0") as m0:
        hard, soft = m4.forward(obs), m0.forward(obs)
    np.testing.assert_array_equal(soft.argmax(axis=1), hard.argmax(axis=1))
    np.testing.assert_allclose(soft, hard, rtol=0, atol=1e-5)
    assert m0.count.mean > 10 * m4.count.mean  # every float operation a libgcc call


# --- the instruction counter -----------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["m4", "m0"])
def test_instructions_counted_are_those_counted_by_hand(runtime, tmp_path):
    c_dir = assembly_policy(tmp_path / "c", COPY_AND_LOOP)
    obs = np.array([[1.5, -2.25], [0.0, 7.0], [3.0, 1e-3]], dtype=np.float32)
    with Chip(c_dir, runtime) as chip:
        out = chip.forward(obs)
    np.testing.assert_array_equal(out[:, 0], obs[:, 1])
    assert chip.count[:4] == (10.0, 10, 10, 3)


def test_the_command_prints_the_return_and_the_same_count_again(cartpole, on_m4, tmp_path):
    result, count = on_m4
    args = ("eval", cartpole, "--runtime", "m4", "--episodes", EPISODES, "--seed", 0)
    proc = rayprune(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"return {result.mean:.2f} +- {result.std:.2f} over {EPISODES}" in proc.stdout
    cost = [line for line in proc.stdout.splitlines() if "instructions per decision" in line]
    assert len(cost) == 1 and cost[0].endswith("qemu models no cycles")
    assert f"{count.mean:,.1f} instructions per decision (min {count.least:,}, max " in cost[0]
    assert f"over {count.calls:,} calls" in cost[0]


def test_count_instructions_is_stable_for_a_fixed_size_mlp(cartpole):
    obs = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    count = count_instructions(cartpole, "m4", obs)
    assert count.calls == 50 and count.least == count.most == count.mean
    assert count == count_instructions(cartpole, "m4", obs[::-1])
    assert 500 < count.policy_bytes < 5000


# --- failures: one line, qemu gone -----------------------------------------------------------


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_a_firmware_fault_is_one_error_and_qemu_is_stopped(tmp_path):
    c_dir = assembly_policy(tmp_path / "c", "udf #0")
    with pytest.raises(ChipError, match=r"^qemu-system-arm \(m4\) ended: the firmware faulted"):
        with Chip(c_dir, "m4") as chip:
            chip.forward(np.zeros((1, 2), np.float32))
    assert gone(chip.pid)


def test_a_hung_firmware_times_out_and_qemu_is_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(chip_session, "ANSWER_TIMEOUT_S", 0.5)
    c_dir = assembly_policy(tmp_path / "c", "1: b 1b")
    with pytest.raises(
        ChipError, match=r"no answer from the firmware in 0.5 s \(it hung\); qemu stopped"
    ):
        with Chip(c_dir, "m0") as chip:
            chip.forward(np.zeros((1, 2), np.float32))
    assert gone(chip.pid)


def test_ctrl_c_kills_qemu(cartpole):
    with pytest.raises(KeyboardInterrupt):
        with Chip(cartpole, "m4") as chip:
            raise KeyboardInterrupt
    assert gone(chip.pid)


def test_a_missing_emulator_is_one_line_naming_its_package(cartpole, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()  # nothing in it: python itself is called by its path
    proc = rayprune("eval", cartpole, "--runtime", "m4", cwd=tmp_path, env={"PATH": str(bin_dir)})
    one_line_error(proc, "qemu-system-arm is not installed (Debian package qemu-system-arm)")


def test_a_missing_cross_compiler_names_its_package(cartpole, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("qemu-system-arm"), bin_dir / "qemu-system-arm")
    monkeypatch.setenv("PATH", str(bin_dir))
    missing = r"^arm-none-eabi-gcc is not installed \(Debian package gcc-arm-none-eabi\)$"
    with pytest.raises(CompilerMissing, match=missing):
        Chip(cartpole, "m4")

"""The generated C policy against ONNX Runtime and NumPy, one thread, and its Cortex-M4 flash.

    python benchmarks/c_inference.py [--rounds 5] [--blocks 1000] [--calls-per-block 100]
        [--calls 2000] [--batch 4096] [--passes 20] [--batches 10]

Policies (tanh, random weights: speed does not depend on their values): CartPole's 4-9-9-2,
the 4-128-128-2 actor with 93% of its hidden neurons masked at random and compacted (the pair
benchmarks/inference.py builds, same seeds), and that dense twin; a LunarLander-shaped 8-9-9-4
(Discrete) and a Hopper-shaped 11-18-18-3 (Box [-1, 1]^3). Observations are real: --batch states
of each env (gymnasium), stepped by the policy itself; the first half calibrates the int8
quantization, the second measures its error.

C: policy.c (float32) built -O2, and -O3 -march=native, timed by rayprune.policy.c_runtime's C
loop: batch-1 latency over --blocks blocks of --calls-per-block consecutive calls, each block
timed by clock_gettime (a ~100 ns call is near the clock's resolution), p50 and p99 of the
block means; throughput, one pass of rayprune_forward over the --batch observations, median
of --passes. ONNX Runtime (policy.onnx as rayprune exports it, one intra- and inter-op thread;
benchmarks/inference.py's onnx_forward) and NumPy (matmuls on the same weights): --calls
batch-1 calls per round timed one by one (perf_counter_ns), and --batches calls at --batch.
Every runtime must agree with torch (max abs diff <= 1e-5) before anything is timed. Each
round runs every (policy, runtime) in a rotated order; C figures are medians over rounds, ORT
and NumPy percentiles over all rounds' calls pooled.

Prints the table, then: C's batch-1 speed-up over ORT per call (target >= 25x), C's dense /
compact throughput ratio beside the FLOP ratio (Eq. 23; target >= 0.5x of it), the Cortex-M4
flash bytes of the float and int8 C (arm-none-eabi-gcc -Os, text + data; target int8 <= 1 KB
and <= 1/3 of float), and int8's error against float on the held-out observations.
"""

# ruff: noqa: E402
# (imports below the thread settings, which must come before numpy's import)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import logging
import shlex
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import load_average, onnx_forward, time_calls

from rayprune.policy.c_export import C_DIR, matmuls, write_c_policy
from rayprune.policy.c_runtime import CPolicy, cortex_m4_flash_bytes, time_forward
from rayprune.policy.quantize import NUMPY_ACTIVATIONS, quantize_int8
from rayprune.pruning import CompactMLP, MaskedMLP, compact, size_of_compact

ONNX_FILE = "policy.onnx"
INT8_DIR = "c_int8"
ATOL = 1e-5
C_BUILDS = {"C -O2": ("-O2",), "C -O3 native": ("-O3", "-march=native")}
RUNTIMES = (*C_BUILDS, "onnxruntime", "numpy")
SPEED_UP_TARGET, FLOP_SHARE_TARGET = 25.0, 0.5
FLASH_LIMIT, FLASH_SHARE = 1024, 1 / 3


@dataclass(frozen=True)
class Case:
    name: str
    env_id: str
    net: CompactMLP
    action_space: dict

    @property
    def shape(self) -> str:
        sizes = [
            self.net.linears[0].in_features,
            *self.net.hidden_sizes,
            self.net.head.out_features,
        ]
        return "-".join(map(str, sizes))


class Speed(NamedTuple):
    """Batch-1 latency (us) and batch throughput (M obs/s) of one runtime on one policy."""

    p50_us: float
    p99_us: float
    mobs: float


Speeds = dict[tuple[str, str], Speed]  # (policy, runtime) -> Speed


class Built(NamedTuple):
    folder: Path  # policy.onnx, c/ and c_int8/
    obs: np.ndarray  # held-out env states: agreement, timing and the int8 error


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=1000, help="C latency blocks per round")
    parser.add_argument("--calls-per-block", type=int, default=100)
    parser.add_argument("--calls", type=int, default=2000, help="ORT/NumPy batch-1 calls per round")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--passes", type=int, default=20, help="C batch passes per round")
    parser.add_argument("--batches", type=int, default=10, help="ORT/NumPy batch calls per round")
    return parser.parse_args()


def cases() -> list[Case]:
    """CartPole's pair exactly as benchmarks/inference.py builds it; the others at random."""
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [128, 128], 2)
    dense = compact(mlp)
    generator = torch.Generator().manual_seed(0)
    for layer in mlp.hidden:
        keep = max(1, round(layer.out_features * (1.0 - 0.93)))
        layer.mask[torch.randperm(layer.out_features, generator=generator)[keep:]] = 0.0
    torch.manual_seed(1)
    lunar = CompactMLP(8, [9, 9], 4)
    hopper = CompactMLP(11, [18, 18], 3)
    discrete = {"type": "discrete", "n": 2}
    hopper_space = {"type": "box", "shape": [3], "low": [-1.0] * 3, "high": [1.0] * 3}
    return [
        Case("cartpole", "CartPole-v1", compact(mlp).eval(), discrete),
        Case("cartpole dense", "CartPole-v1", dense.eval(), discrete),
        Case("lunarlander", "LunarLander-v3", lunar.eval(), {"type": "discrete", "n": 4}),
        Case("hopper", "Hopper-v5", hopper.eval(), hopper_space),
    ]


def export_onnx(net: CompactMLP, path: Path, output: str) -> None:
    """As rayprune's export writes policy.onnx (artifact._write_onnx)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(), (torch.zeros(2, net.linears[0].in_features),), str(path),
            input_names=["obs"], output_names=[output],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True, external_data=False, verbose=False,
        )  # fmt: skip


def env_states(case: Case, policy: CPolicy, n: int, seed: int = 0) -> np.ndarray:
    """n observations of case.env_id, the policy acting, episodes reset as they end."""
    env = gym.make(case.env_id)
    rows = []
    try:
        obs, _ = env.reset(seed=seed)
        while len(rows) < n:
            rows.append(obs)
            obs, _, terminated, truncated, _ = env.step(policy.act(obs)[0])
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    return np.asarray(rows, dtype=np.float32)


def build(case: Case, folder: Path, batch: int) -> Built:
    """policy.onnx, c/ (float32) and c_int8/ (calibrated on the first half of 2 x batch
    env states) in folder."""
    output = "action_logits" if case.action_space["type"] == "discrete" else "action_mean"
    export_onnx(case.net, folder / ONNX_FILE, output)
    write_c_policy(case.net, case.action_space, folder / C_DIR)
    with CPolicy(folder) as policy:
        states = env_states(case, policy, 2 * batch)
    quantized = quantize_int8(case.net, states[:batch])
    write_c_policy(case.net, case.action_space, folder / INT8_DIR, quantized)
    return Built(folder, states[batch:])


def numpy_forward(net: CompactMLP) -> Callable[[np.ndarray], np.ndarray]:
    """x @ W^T (+ b) per matmul, transposed once up front, then the activation."""
    act = NUMPY_ACTIVATIONS[net.activation]
    layers = [(m.weight.T.copy(), m.bias, m.activate) for m in matmuls(net)]

    def forward(x: np.ndarray) -> np.ndarray:
        for weight, bias, activate in layers:
            x = x @ weight if bias is None else x @ weight + bias
            if activate:
                x = act(x)
        return x

    return forward


def check_agreement(case: Case, built: Built) -> float:
    """Largest difference of C, ORT and NumPy from torch on the case's observations; exits
    when one is over ATOL (times the largest |output| when that is over 1)."""
    with torch.no_grad():
        reference = case.net(torch.from_numpy(built.obs)).numpy()
    with CPolicy(built.folder) as policy:
        outputs = {
            "C": policy.forward(built.obs),
            "onnxruntime": onnx_forward(built.folder)(built.obs),
            "numpy": numpy_forward(case.net)(built.obs),
        }
    worst = 0.0
    for runtime, out in outputs.items():
        diff = float(np.abs(out - reference).max())
        if diff > ATOL * max(1.0, float(np.abs(reference).max())):
            sys.exit(f"{runtime} disagrees with torch on {case.name}: max abs diff {diff:.2e}")
        worst = max(worst, diff)
    return worst


def time_c(built: Built, opt: tuple[str, ...], args: argparse.Namespace) -> Speed:
    timing = time_forward(
        built.folder / C_DIR, built.obs, opt, args.blocks, args.calls_per_block, args.passes
    )
    return Speed(timing.p50_ns / 1e3, timing.p99_ns / 1e3, timing.throughput / 1e6)


def time_python(forward: Callable, built: Built, args: argparse.Namespace) -> tuple[list, list]:
    """(batch-1 call times, batch call times) in seconds."""
    one = built.obs[:1].copy()
    return time_calls(forward, one, args.calls), time_calls(forward, built.obs, args.batches)


def pooled(latency: list[float], batched: list[float], batch: int) -> Speed:
    times = sorted(latency)
    return Speed(
        statistics.median(times) * 1e6,
        times[int(0.99 * (len(times) - 1))] * 1e6,
        batch / statistics.median(batched) / 1e6,
    )


def median_speed(speeds: list[Speed]) -> Speed:
    return Speed(*(statistics.median(values) for values in zip(*speeds)))


def measure(all_cases: list[Case], built: dict[str, Built], args: argparse.Namespace) -> Speeds:
    forwards = {
        case.name: {
            "onnxruntime": onnx_forward(built[case.name].folder),
            "numpy": numpy_forward(case.net),
        }
        for case in all_cases
    }
    c_speeds: dict[tuple[str, str], list[Speed]] = {}
    calls: dict[tuple[str, str], tuple[list, list]] = {}
    pairs = [(case.name, runtime) for case in all_cases for runtime in RUNTIMES]
    for case in all_cases:  # warm-up: ORT's first calls allocate
        for forward in forwards[case.name].values():
            time_calls(forward, built[case.name].obs[:1].copy(), 200)
    for round_ in range(args.rounds):
        shift = round_ % len(pairs)
        for name, runtime in pairs[shift:] + pairs[:shift]:
            if runtime in C_BUILDS:
                speed = time_c(built[name], C_BUILDS[runtime], args)
                c_speeds.setdefault((name, runtime), []).append(speed)
            else:
                latency, batched = time_python(forwards[name][runtime], built[name], args)
                so_far = calls.setdefault((name, runtime), ([], []))
                so_far[0].extend(latency)
                so_far[1].extend(batched)
    speeds = {pair: median_speed(values) for pair, values in c_speeds.items()}
    speeds |= {pair: pooled(*times, args.batch) for pair, times in calls.items()}
    return speeds


def int8_error(built: Built) -> str:
    """Max abs diff int8 - float (and over max |float output|), and the actions': the share
    of equal Discrete actions or the max diff of Box actions; both through the C."""
    with CPolicy(built.folder / C_DIR) as exact, CPolicy(built.folder / INT8_DIR) as int8:
        out, out8 = exact.forward(built.obs), int8.forward(built.obs)
        act, act8 = exact.act(built.obs), int8.act(built.obs)
    diff = float(np.abs(out8 - out).max())
    text = f"max abs diff {diff:.2e} ({diff / float(np.abs(out).max()):.2%} of max |output|), "
    if exact.discrete:
        return text + f"same action {float((act == act8).mean()):.2%}"
    return text + f"actions max abs diff {float(np.abs(act8 - act).max()):.2e}"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_table(
    all_cases: list[Case], speeds: Speeds, diff: float, args: argparse.Namespace
) -> None:
    print(
        f"all runtimes agree with torch: max abs diff {diff:.1e} over {args.batch} env states each"
    )
    print(
        f"one thread; batch-1 latency (us): C over {args.rounds} x {args.blocks} blocks of "
        f"{args.calls_per_block} calls (median of rounds), ORT/NumPy over "
        f"{args.rounds * args.calls} calls; batch-{args.batch} throughput (M obs/s, median)"
    )
    print(f"{'policy':<28} {'runtime':<13} {'p50':>8} {'p99':>8} {'M obs/s':>9}")
    for case in all_cases:
        label = f"{case.name} {case.shape}"
        for runtime in RUNTIMES:
            s = speeds[case.name, runtime]
            print(f"{label:<28} {runtime:<13} {s.p50_us:8.3f} {s.p99_us:8.3f} {s.mobs:9.3f}")
            label = ""


def print_speed_ups(all_cases: list[Case], speeds: Speeds) -> None:
    print(f"C batch-1 speed-up over onnxruntime per call, p50 (target >= {SPEED_UP_TARGET:.0f}x):")
    for case in all_cases:
        ort = speeds[case.name, "onnxruntime"].p50_us
        ratios = {build: ort / speeds[case.name, build].p50_us for build in C_BUILDS}
        text = ", ".join(f"{build} {ratio:.1f}x" for build, ratio in ratios.items())
        print(f"  {case.name:<15} {text}  (-O2: {verdict(ratios['C -O2'] >= SPEED_UP_TARGET)})")


def print_flop_share(all_cases: list[Case], speeds: Speeds) -> None:
    """Compact over dense C throughput for CartPole, beside the FLOP (Eq. 23) and neuron ratios."""
    sizes = {case.name: size_of_compact(case.net) for case in all_cases}
    flop_ratio = sizes["cartpole dense"].flops / sizes["cartpole"].flops
    neuron_ratio = sizes["cartpole dense"].neurons / sizes["cartpole"].neurons
    print(
        f"C throughput compact / dense, CartPole: FLOP ratio {flop_ratio:.1f}x (target >= "
        f"{FLOP_SHARE_TARGET}x of it), hidden-neuron ratio {neuron_ratio:.1f}x"
    )
    for build in C_BUILDS:
        ratio = speeds["cartpole", build].mobs / speeds["cartpole dense", build].mobs
        share = ratio / flop_ratio
        print(
            f"  {build:<13} {ratio:6.1f}x = {share:.2f}x the FLOP ratio "
            f"({verdict(share >= FLOP_SHARE_TARGET)})"
        )


def print_flash(all_cases: list[Case], built: dict[str, Built]) -> None:
    print("Cortex-M4F flash, arm-none-eabi-gcc -Os, text + data of policy.o (B):")
    for case in all_cases:
        flash = cortex_m4_flash_bytes(built[case.name].folder / C_DIR)
        flash8 = cortex_m4_flash_bytes(built[case.name].folder / INT8_DIR)
        if flash is None or flash8 is None:
            print("  arm-none-eabi-gcc missing (Debian gcc-arm-none-eabi): not measured")
            return
        print(
            f"  {case.name:<15} float {flash:>7,}  int8 {flash8:>7,}  int8/float "
            f"{flash8 / flash:.2f}  (int8 <= 1 KB: {verdict(flash8 <= FLASH_LIMIT)}; "
            f"<= 1/3 float: {verdict(flash8 <= FLASH_SHARE * flash)})"
        )


def main() -> int:
    args = parse_args()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    all_cases = cases()
    with tempfile.TemporaryDirectory() as tmp:
        built = {}
        for case in all_cases:
            (Path(tmp) / case.name).mkdir()
            built[case.name] = build(case, Path(tmp) / case.name, args.batch)
        diff = max(check_agreement(case, built[case.name]) for case in all_cases)
        speeds = measure(all_cases, built, args)
        print_table(all_cases, speeds, diff, args)
        print_speed_ups(all_cases, speeds)
        print_flop_share(all_cases, speeds)
        print_flash(all_cases, built)
        print("int8 against float (both C) on the held-out env states:")
        for case in all_cases:
            print(f"  {case.name:<15} {int8_error(built[case.name])}")
    print(f"load average (1, 5, 15 min) at the end {load_average()}")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

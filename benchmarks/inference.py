"""Inference speed of a dense and a compact policy, one thread: torch eager, ONNX Runtime, NumPy.

    python benchmarks/inference.py [--dense DIR --compact DIR] [--rounds 10] [--calls 1000]
        [--batch 4096] [--batches 10] [--sparsity 0.93] [--hidden 128 128]

DIRs are compact_policy folders (e.g. from `rayprune best`, a dense PPO trial's and a DSP
trial's). Without them the script builds its own pair: a 4-128-128-2 tanh MaskedMLP (CartPole's
actor) left dense, and the same network with --sparsity of each hidden layer's neurons masked at
random and compacted (4-9-9-2 at 93%), both exported with rayprune's export_compact_policy into a
temporary folder. Speed does not depend on the weights' values, so untrained weights measure the
same thing as trained ones.

Each policy runs in three runtimes, each given its own input type (conversion excluded):
torch eager (CompactMLP under torch.inference_mode), ONNX Runtime (policy.onnx, intra- and
inter-op threads 1), and NumPy (matmul + activation on the weights in policy.safetensors; a
low-rank layer is two matmuls). All six must agree on the same observations (max abs diff
<= --atol, times the largest output when that is over 1) before anything is timed, so a wrong
fast path cannot win. Timing alternates: every round runs each (runtime, policy) pair in a
rotated order, --calls batch-1 calls timed one by one (latency: median and p99) and --batches
calls at --batch observations (throughput: median).
Prints the speed-up compact over dense per runtime beside the FLOP ratio (Eq. 23, dense over
compact), and the sizes of policy.onnx and policy.safetensors.
"""

# ruff: noqa: E402
# (imports below the thread settings, which must come before numpy's import)
from __future__ import annotations

import os

# One thread everywhere; BLAS reads these when numpy is first imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import logging
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from safetensors.numpy import load_file

from rayprune.policy import (
    ONNX_FILE,
    WEIGHTS_FILE,
    ActionSpace,
    EnvSpaces,
    EvalResult,
    describe_policy,
    export_compact_policy,
    load_compact_policy,
    read_info,
)
from rayprune.policy.artifact import INPUT_NAME
from rayprune.pruning import (
    CompactMLP,
    MaskedMLP,
    PruningSchedule,
    PruningSpec,
    compact,
    dense_size_of,
    size_of_compact,
)

Forward = Callable[[Any], Any]
NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}
RUNTIMES = ("torch eager", "onnxruntime", "numpy")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dense", type=Path, help="compact_policy folder of a dense policy")
    parser.add_argument("--compact", type=Path, help="compact_policy folder of a pruned policy")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=1000, help="batch-1 calls per round")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--batches", type=int, default=10, help="large-batch calls per round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed batch-1 calls first")
    parser.add_argument("--sparsity", type=float, default=0.93, help="built pair only")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="built pair")
    parser.add_argument("--obs-dim", type=int, default=4, help="built pair only")
    parser.add_argument("--actions", type=int, default=2, help="built pair only")
    parser.add_argument(
        "--atol", type=float, default=1e-4, help="per unit of the largest |output| (at least 1)"
    )
    args = parser.parse_args()
    if (args.dense is None) != (args.compact is None):
        parser.error("give both --dense and --compact, or neither")
    return args


def build_pair(args: argparse.Namespace, out: Path) -> tuple[Path, Path]:
    """Export an untouched actor and one with random neuron masks, compacted."""
    torch.manual_seed(0)
    mlp = MaskedMLP(args.obs_dim, args.hidden, args.actions)
    dense = dense_size_of(mlp)
    dense_dir = export(compact(mlp), mlp, "ppo", 0.0, out / "dense")
    generator = torch.Generator().manual_seed(0)
    for layer in mlp.hidden:
        n = layer.out_features
        keep = max(1, round(n * (1.0 - args.sparsity)))
        layer.mask[torch.randperm(n, generator=generator)[keep:]] = 0.0
    assert size_of_compact(compact(mlp)).neurons < dense.neurons
    return dense_dir, export(compact(mlp), mlp, "dsp", args.sparsity, out / "compact")


def export(net: CompactMLP, mlp: MaskedMLP, method: str, target: float, out: Path) -> Path:
    """Exported as a sweep exports (describe_policy), with no evaluation: its return is NaN."""
    schedule = PruningSchedule(target, 1, 2) if target > 0 else None
    spaces = EnvSpaces(mlp.hidden[0].in_features, ActionSpace("discrete", n=mlp.head.out_features))
    info = describe_policy(
        mlp, net, PruningSpec(method, 0.0, schedule), "CartPole-v1", spaces, EvalResult([])
    )
    return export_compact_policy(net, out, info)


def torch_forward(folder: Path) -> Forward:
    net, _ = load_compact_policy(folder)

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x)

    return forward


def onnx_forward(folder: Path) -> Forward:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    return lambda x: session.run(None, {INPUT_NAME: x})[0]


def numpy_forward(folder: Path) -> Forward:
    """x @ W^T + b per layer from the safetensors weights, transposed once up front; a
    low-rank layer (L0) is x @ down^T @ up^T + b."""
    info, state = read_info(folder), load_file(str(folder / WEIGHTS_FILE))
    act = NUMPY_ACTIVATIONS[info.activation]
    layers: list[tuple[list[np.ndarray], np.ndarray]] = []
    for prefix in [f"hidden.{i}" for i in range(len(info.hidden_compact))] + ["head"]:
        if f"{prefix}.weight" in state:
            layers.append(([state[f"{prefix}.weight"].T.copy()], state[f"{prefix}.bias"]))
        else:
            down, up = state[f"{prefix}.down.weight"], state[f"{prefix}.up.weight"]
            layers.append(([down.T.copy(), up.T.copy()], state[f"{prefix}.up.bias"]))

    def forward(x: np.ndarray) -> np.ndarray:
        for i, (matrices, bias) in enumerate(layers):
            for matrix in matrices:
                x = x @ matrix
            x = x + bias
            if i < len(layers) - 1:
                x = act(x)
        return x

    return forward


def as_input(runtime: str, x: np.ndarray) -> Any:
    return torch.from_numpy(x) if runtime == "torch eager" else x


def check_agreement(forwards: dict[tuple[str, str], Forward], x: np.ndarray, atol: float) -> float:
    """Largest difference of any runtime from torch, per policy, over the same observations."""
    worst = 0.0
    for (runtime, policy), forward in forwards.items():
        reference = forwards["torch eager", policy](torch.from_numpy(x)).numpy()
        out = np.asarray(forward(as_input(runtime, x)))
        diff = float(np.abs(out - reference).max())
        # float32 sums in another order: allow for the scale of the outputs (large logits)
        if diff > atol * max(1.0, float(np.abs(reference).max())):
            sys.exit(
                f"{runtime} disagrees with torch on the {policy} policy: max abs diff {diff:.2e}"
            )
        worst = max(worst, diff)
    return worst


def time_calls(forward: Forward, x: Any, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter_ns()
        forward(x)
        times.append((time.perf_counter_ns() - start) * 1e-9)
    return times


def load_average() -> str:
    """The machine's 1, 5 and 15 min load: these figures are only as quiet as the machine."""
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def main() -> int:
    args = parse_args()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed"
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.dense is None:
            folders = dict(zip(("dense", "compact"), build_pair(args, Path(tmp))))
        else:
            folders = {"dense": args.dense, "compact": args.compact}
        makers = {"torch eager": torch_forward, "onnxruntime": onnx_forward, "numpy": numpy_forward}
        forwards = {(r, p): makers[r](folder) for r in RUNTIMES for p, folder in folders.items()}
        nets = {p: load_compact_policy(folder)[0] for p, folder in folders.items()}
        infos = {p: read_info(folder) for p, folder in folders.items()}
        sizes = {
            (p, f): (folder / f).stat().st_size
            for p, folder in folders.items()
            for f in (ONNX_FILE, WEIGHTS_FILE)
        }
        obs_dim = infos["dense"].obs_dim
        rng = np.random.default_rng(0)
        one = rng.standard_normal((1, obs_dim), dtype=np.float32)
        many = rng.standard_normal((args.batch, obs_dim), dtype=np.float32)
        diff = check_agreement(forwards, many, args.atol)

        cases = list(forwards)
        latency: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
        batched: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
        for case in cases:
            time_calls(forwards[case], as_input(case[0], one), args.warmup)
        for round_ in range(args.rounds):
            shift = round_ % len(cases)
            for case in cases[shift:] + cases[:shift]:
                latency[case] += time_calls(forwards[case], as_input(case[0], one), args.calls)
                batched[case] += time_calls(forwards[case], as_input(case[0], many), args.batches)

    def shape(p: str) -> str:
        net = nets[p]
        return "-".join(map(str, [obs_dim, *net.hidden_sizes, net.head.out_features]))

    flops = {p: size_of_compact(net).flops for p, net in nets.items()}
    info = infos["compact"]
    where = "built here" if args.dense is None else f"{args.dense}, {args.compact}"
    print(f"dense {shape('dense')}, compact {shape('compact')} ({where})")
    print(f"all runtimes agree with torch: max abs diff {diff:.1e} over {args.batch} observations")
    print(
        f"one thread; batch-1 latency over {args.rounds * args.calls} calls (us), "
        f"batch-{args.batch} throughput over {args.rounds * args.batches} calls (M obs/s, median)"
    )
    print(
        f"{'runtime':<12} {'dense p50':>9} {'p99':>7} {'compact p50':>11} {'p99':>7} "
        f"{'speed-up':>8}   {'dense':>7} {'compact':>8} {'speed-up':>8}"
    )
    for runtime in RUNTIMES:
        lat = {p: sorted(latency[runtime, p]) for p in folders}
        p50 = {p: statistics.median(t) * 1e6 for p, t in lat.items()}
        p99 = {p: t[int(0.99 * (len(t) - 1))] * 1e6 for p, t in lat.items()}
        rate = {p: args.batch / statistics.median(batched[runtime, p]) / 1e6 for p in folders}
        print(
            f"{runtime:<12} {p50['dense']:9.1f} {p99['dense']:7.1f} {p50['compact']:11.1f} "
            f"{p99['compact']:7.1f} {p50['dense'] / p50['compact']:7.2f}x"
            f"   {rate['dense']:7.3f} {rate['compact']:8.3f} "
            f"{rate['compact'] / rate['dense']:7.2f}x"
        )
    print(
        f"FLOPs per observation (Eq. 23): dense {flops['dense']:,}, compact {flops['compact']:,}, "
        f"ratio {flops['dense'] / flops['compact']:.1f}x (compact compression.json: "
        f"{info.flops_dense / info.flops_compact:.1f}x)"
    )
    for p in folders:
        print(
            f"{p:<8} {ONNX_FILE} {sizes[p, ONNX_FILE]:>9,} B   "
            f"{WEIGHTS_FILE} {sizes[p, WEIGHTS_FILE]:>9,} B"
        )
    print(f"load average (1, 5, 15 min) at the end {load_average()}")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

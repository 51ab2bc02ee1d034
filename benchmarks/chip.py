"""A compact policy on the emulated chips (rayprune.policy.chip): closed-loop return on the
Cortex-M4F and Cortex-M0 against onnxruntime's (and the same C built by the host's gcc),
instructions per decision and the policy's flash.

    python benchmarks/chip.py [POLICY_DIR ...] [--episodes 20] [--seed 0] [--runtimes m4 m0]
        [--int8]

Without POLICY_DIR: benchmarks/inference.py's compacted actor (4-128-128-2, tanh, seed 0, 93%
of each hidden layer's neurons masked at random: 4-9-9-2, random weights, so short CartPole
episodes) and its int8 twin (rayprune.policy.int8.export_policy, 10 calibration episodes).
--int8 adds the int8 twin of each float POLICY_DIR given.

Per policy and chip: the return over --episodes episodes from --seed played with each decision
on the chip, onnxruntime's on the same episodes (policy.onnx: float32 even in an int8 folder,
whose C is int8) and the host C's (`--runtime c`, the same C); instructions per decision, mean,
min and max over every decision of those episodes (an instruction count from a TCG plugin,
exact and repeatable: qemu models no cycles); policy.o's text + data at -O2 for that chip.
Nothing here is timed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import torch

from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EvalResult,
    OnnxPolicy,
    describe_policy,
    eval_seed,
    evaluate,
    export_compact_policy,
    read_info,
)
from rayprune.policy.c_runtime import CPolicy
from rayprune.policy.chip import BOARDS, ChipPolicy
from rayprune.policy.int8 import export_policy
from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, compact


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policies", nargs="*", type=Path, help="compact_policy folders")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, help="first episode (default: the sweep's, eval_seed)")
    parser.add_argument("--runtimes", nargs="+", default=list(BOARDS), choices=list(BOARDS))
    parser.add_argument("--int8", action="store_true", help="also each float folder's int8 twin")
    return parser.parse_args()


def build_fixture(out: Path) -> Path:
    """benchmarks/inference.py's compacted 4-9-9-2 (same seeds), its return recorded over 20
    episodes so that an int8 export evaluates on as many."""
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [128, 128], 2)
    generator = torch.Generator().manual_seed(0)
    for layer in mlp.hidden:
        n = layer.out_features
        layer.mask[torch.randperm(n, generator=generator)[round(n * 0.07) :]] = 0.0
    net = compact(mlp)
    spec = PruningSpec("dsp", 0.0, PruningSchedule(0.93, 1, 2))
    spaces = EnvSpaces(4, ActionSpace("discrete", n=2))
    info = describe_policy(mlp, net, spec, "CartPole-v1", spaces, EvalResult([0.0] * 20))
    return export_compact_policy(net, out / "compact_policy", info)


def int8_twin(folder: Path, out: Path) -> Path:
    target = out / f"{folder.name}_int8"
    export_policy(folder, target, "c", "int8", calibration_episodes=10)
    return target


def bench(folder: Path, runtime: str, episodes: int, seed: int | None) -> None:
    info = read_info(folder)
    first = eval_seed(info.seed) if seed is None else seed
    with ChipPolicy(folder, runtime) as chip:
        on_chip = evaluate(chip, info.env_spec, episodes, first)
    onnx = evaluate(OnnxPolicy(folder), info.env_spec, episodes, first)
    with CPolicy(folder) as host:
        host_c = evaluate(host, info.env_spec, episodes, first)
    n = chip.count
    same = "the same episodes" if on_chip.returns == host_c.returns else "OTHER episodes"
    print(
        f"{folder.name} ({info.dtype}, hidden {info.hidden_compact}) on {runtime}: return "
        f"{on_chip.mean:.2f} +- {on_chip.std:.2f}; onnxruntime {onnx.mean:.2f} (ratio "
        f"{on_chip.mean / onnx.mean:.3f}); host C {host_c.mean:.2f} ({same}) over {episodes} "
        f"episodes from seed {first}"
    )
    print(
        f"    {n.mean:,.1f} instructions per decision (min {n.least:,}, max {n.most:,}, "
        f"{n.calls:,} decisions); policy.o {n.policy_bytes:,} B flash (text + data, -O2)"
    )


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="rayprune-chip-bench-") as tmp:
        out = Path(tmp)
        folders = list(args.policies)
        if not folders:
            folders = [build_fixture(out)]
            folders.append(int8_twin(folders[0], out))
        elif args.int8:
            floats = [f for f in folders if read_info(f).dtype == "float32"]
            folders += [int8_twin(f, out) for f in floats]
        for folder in folders:
            for runtime in args.runtimes:
                bench(folder, runtime, args.episodes, args.seed)
    print("instruction counts, not cycles: qemu models no timing; " + ", ".join(
        f"{b.runtime} = {b.title}" for b in BOARDS.values() if b.runtime in args.runtimes
    ))  # fmt: skip
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

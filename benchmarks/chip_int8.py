"""float32 C against integer-only int8 C on an emulated Cortex-M: flash, instructions per
decision, and the return each earns.

    python benchmarks/chip_int8.py [POLICY_DIR ...] [--episodes 20] [--calls 200]

POLICY_DIR: compact_policy folders of trained policies (default: every one under
rayprune_results/mlartifacts). For each: the int8 network is calibrated as `rayprune export`
calibrates it (10 episodes of the float policy); flash is text + data of policy.o
(arm-none-eabi-gcc -Os, Cortex-M4F); instructions per rayprune_forward call are counted by
rayprune.policy.chip (qemu-system-arm, TCG plugin; -O2) on the Cortex-M4F and the Cortex-M0
(soft float) over --calls calibration observations; returns are the float and int8 C's on the
policy's own evaluation episodes. Targets: float <= 1,000 instructions on a 4-9-9-2 tanh
policy (M4); int8 <= 0.5x float's instructions and <= 1/3 of its flash.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from rayprune.policy.artifact import load_compact_policy
from rayprune.policy.c_export import describe, write_c_policy
from rayprune.policy.c_runtime import CPolicy, cortex_m4_flash_bytes
from rayprune.policy.chip import count_instructions
from rayprune.policy.int8 import calibration_observations
from rayprune.policy.quantize import quantize_int8
from rayprune.policy.runtime import eval_seed, evaluate

FLOAT_TARGET, SPEED_SHARE, FLASH_SHARE = 1000, 0.5, 1 / 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("policies", nargs="*", type=Path)
    parser.add_argument("--episodes", type=int, default=None, help="default: the policy's own")
    parser.add_argument("--calls", type=int, default=200)
    return parser.parse_args()


def measure(policy_dir: Path, args: argparse.Namespace, work: Path) -> None:
    net, info = load_compact_policy(policy_dir)
    obs = calibration_observations(policy_dir, info, 10)
    quantized = quantize_int8(net, obs, info.normalization)
    folders = {
        "float": write_c_policy(net, info.action_space, work / "f", None, info.normalization),
        "int8": write_c_policy(net, info.action_space, work / "q", quantized),
    }
    episodes = args.episodes or info.eval_episodes
    print(f"{policy_dir} ({info.env}, {describe(net)}), {episodes} episodes")
    figures = {}
    for kind, folder in folders.items():
        with CPolicy(folder) as policy:
            result = evaluate(policy, info.env_spec, episodes, eval_seed(info.seed))
        m4 = count_instructions(folder, "m4", obs[: args.calls])
        m0 = count_instructions(folder, "m0", obs[: args.calls])
        flash = cortex_m4_flash_bytes(folder)
        figures[kind] = (m4.mean, m0.mean, flash, result.mean)
        print(
            f"  {kind:<5} return {result.mean:8.2f} +- {result.std:6.2f}  flash {flash:>6,} B  "
            f"M4F {m4.mean:>9,.0f} instr/call  M0 {m0.mean:>10,.0f} instr/call"
        )
    (f4, f0, fflash, fret), (q4, q0, qflash, qret) = figures["float"], figures["int8"]
    print(
        f"  int8/float: M4F instructions {q4 / f4:.2f} (target <= {SPEED_SHARE}), M0 "
        f"{q0 / f0:.3f}, flash {qflash / fflash:.2f} (target <= {FLASH_SHARE:.2f}), return "
        f"loss {fret - qret:.2f}; float M4F {f4:,.0f} (target <= {FLOAT_TARGET:,})"
    )


def main() -> int:
    args = parse_args()
    policies = args.policies or sorted(
        Path("rayprune_results/mlartifacts").glob("*/artifacts/compact_policy")
    )
    if not policies:
        sys.exit("no compact_policy folders given or under rayprune_results/mlartifacts")
    for policy_dir in policies:
        with tempfile.TemporaryDirectory() as tmp:
            measure(policy_dir, args, Path(tmp))
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seconds per training iteration of each pruning method against dense PPO, interleaved in one
process.

    python benchmarks/overhead.py [--methods dsp ssl ...] [--iterations 40] [--warmup 3]
        [--config tune_configs/cartpole_dsp.yaml] [--lambda 1e-4] [--sparsity 0.93]

Every method is built in this one process from the same config (PPO settings, network, envs per
runner) with the per-method settings a sweep gives its grid point (config.specs.spec_for and
network_for: L0's gates, PoPS without distillation unless the config sets
distill_coeff, lambda 0 for methods without a penalty, ...). Dense PPO (`ppo`) is always built:
it is the reference. The algorithms train one iteration each per round, round-robin, with the
order rotated every round so that drift on the machine (other jobs, thermal, caches) hits all of
them alike. The pruning schedule runs from the end of the warm-up through the first half of the
measured window, so mask updates and compaction metrics are measured while they change.
torch runs with --threads intra-op threads (default 1, what a 1-CPU Tune trial gets: Ray sets
OMP_NUM_THREADS to a worker's CPUs); torch's default of one thread per core made iterations 10-20x
slower here whenever other jobs held the cores (its threads wait on each other).
Prints the median s/iter per method and its ratio to dense PPO; DSP's target is <= 1.05.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

TARGET = 1.05  # DSP's s/iter over dense PPO's


def parse_args() -> argparse.Namespace:
    from rayprune.pruning import METHODS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("tune_configs/cartpole_dsp.yaml"))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--iterations", type=int, default=40, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    parser.add_argument("--lambda", dest="lam", type=float, default=1e-4)
    parser.add_argument("--sparsity", type=float, default=0.93)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return parser.parse_args()


def grid_points(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The config with its schedule moved into the measured window, and one grid point per
    method, made by the sweep's own rules (config.grid.points)."""
    from rayprune.sweep.config import load_config
    from rayprune.sweep.config.grid import points

    cfg = load_config(args.config)
    methods = ["ppo", *[m for m in args.methods if m != "ppo"]]
    grid = cfg.grid.model_copy(
        update={
            "method": methods,
            "lam": [args.lam],
            "sparsity_target": [args.sparsity],
            "seed": [0],
        }
    )
    end = args.warmup + args.iterations // 2  # prune through the first half of the window
    pruning = cfg.pruning.model_copy(update={"start_iter": args.warmup, "end_iter": end})
    cfg = cfg.model_copy(update={"grid": grid, "pruning": pruning})
    return cfg, {point.method: point for point in points(cfg)}


def measure(args: argparse.Namespace) -> tuple[Any, dict[str, list[float]]]:
    import ray
    import torch

    from rayprune.rllib import build_ppo_config
    from rayprune.sweep.config.specs import network_for, spec_for

    cfg, points = grid_points(args)
    torch.set_num_threads(args.threads)
    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    try:
        algos = {
            name: build_ppo_config(
                env=cfg.env, seed=point.seed, ppo=cfg.ppo.model_dump(),
                network=network_for(cfg, point), pruning=spec_for(cfg, point),
                num_envs_per_env_runner=cfg.num_envs_per_env_runner, api_stack=cfg.api_stack,
            ).build_algo()
            for name, point in points.items()
        }  # fmt: skip
        names = list(algos)
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.warmup + args.iterations):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                algos[name].train()
                if round_ >= args.warmup:
                    times[name].append(time.perf_counter() - start)
        for algo in algos.values():
            algo.stop()
    finally:
        ray.shutdown()
    return cfg, times


def load_average() -> str:
    """The machine's 1, 5 and 15 min load: these figures are only as quiet as the machine."""
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def main() -> int:
    args = parse_args()
    cfg, times = measure(args)
    dense = statistics.median(times["ppo"])
    print(
        f"env {cfg.env}, {cfg.ppo.train_batch_size} steps/iter, {cfg.ppo.num_epochs} epochs, "
        f"actor {cfg.model.hidden} {cfg.model.activation}, {cfg.num_envs_per_env_runner} envs, "
        f"api stack {cfg.api_stack}, {args.threads} torch thread(s); "
        f"load average (1, 5, 15 min) at the end {load_average()}"
    )
    print(
        f"lambda {args.lam}, sparsity target {args.sparsity}, "
        f"schedule iterations {cfg.pruning.start_iter}-{cfg.pruning.end_iter}"
    )
    print(f"{'method':<8} {'s/iter':>7} {'min':>7} {'max':>7} {'ratio':>6}", end="  ")
    print(f"(median of {args.iterations})")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"{name:<8} {median:7.3f} {min(samples):7.3f} {max(samples):7.3f} {median / dense:6.3f}"
        )
    if "dsp" in times:
        ratio = statistics.median(times["dsp"]) / dense
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"DSP / PPO = {ratio:.3f} (target <= {TARGET}: {verdict})")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

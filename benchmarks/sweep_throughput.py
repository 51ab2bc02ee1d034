"""Sweep throughput: env steps per second summed over N concurrent trials against one trial alone.

    python benchmarks/sweep_throughput.py [--config tune_configs/quickstart.yaml] [--trials N]
        [--budget 30000] [--repeats 2] [--set KEY=VALUE ...] [--keep DIR]

Runs `rayprune sweep` (its own private local Ray, started and stopped by the CLI) twice per
repeat, each in a fresh --results folder: a grid of one point (seed 0) alone, then the same point
with seeds 0..N-1 and max_concurrent_trials N (N defaults to the CPU count), every trial with
the same budget. Repeats alternate the order, so drift on the machine hits both alike; medians
are printed. The grid point is DSP at lambda 1e-4 and 93% with the schedule squeezed into the
budget (iterations 2-10); --set overrides anything, after those defaults.

Figures, from each trial's Tune result.json (one row per training iteration):
- training phase: env steps of all trials after their first iteration, over the wall time from
  the earliest end of a first iteration to the latest end of a last one. The first iteration
  holds the trial's start-up (process, RLlib build) and is left out; so are the export and
  evaluation after the last. A row's end time is its trial's start plus time_total_s (Tune's
  float clock), the start pinned to the row timestamps (whole seconds) that all rows agree on.
- end to end: budget x trials over the sweep command's wall time (Ray start, trial start-up,
  export, evaluation and the report included).
- the CPU ceiling: how much more work N busy single-threaded processes do than one, measured
  before the sweeps for --spin seconds. On a shared or virtual machine the sweep's ratio cannot
  beat it (other jobs, host contention); on an idle machine with N real cores it is ~N. With
  Linux's autogroup on, CPU is shared between sessions before niceness counts: a `nice 19` job
  started from another session still takes its session's share once every core is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POINT = [
    "grid.method=[dsp]",
    "grid.lambda=[0.0001]",
    "grid.sparsity_target=[0.93]",
    "pruning.start_iter=2",
    "pruning.end_iter=10",
]


@dataclass(frozen=True)
class Sweep:
    trials: int
    wall_s: float  # the sweep command, launch to exit
    steps: float  # env steps of the training phase, all trials
    window_s: float  # the training phase's wall time
    budget_steps: float  # env steps trained in all, first iterations included
    iteration_s: float  # median seconds per training iteration of a trial, first ones left out

    @property
    def rate(self) -> float:
        return self.steps / self.window_s

    @property
    def end_to_end(self) -> float:
        return self.budget_steps / self.wall_s


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("tune_configs/quickstart.yaml"))
    parser.add_argument("--trials", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--budget", type=int, default=30_000, help="env steps per trial")
    parser.add_argument("--repeats", type=int, default=2, help="alternating: 1, N, N, 1, ...")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", type=Path, help="keep the sweeps' results here")
    parser.add_argument("--spin", type=float, default=5.0, help="seconds of the CPU ceiling test")
    return parser.parse_args()


def run_sweep(name: str, seeds: int, args: argparse.Namespace, results: Path) -> Sweep:
    overrides = [
        f"name={name}", f"budget_env_steps={args.budget}", *POINT,
        f"grid.seed={list(range(seeds))}", f"max_concurrent_trials={seeds}", *args.set,
    ]  # fmt: skip
    command = [
        sys.executable, "-m", "rayprune.cli", "sweep", str(args.config),
        *[arg for item in overrides for arg in ("--set", item)], "--results", str(results),
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"sweep {name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    trials = [read_rows(path) for path in sorted((results / "ray" / name).glob("*/result.json"))]
    if len(trials) != seeds:
        sys.exit(f"sweep {name}: expected {seeds} trials, found {len(trials)} result.json files")
    phases = [phase(rows) for rows in trials]
    window = max(end for _, end, _ in phases) - min(start for start, _, _ in phases)
    steps = sum(n for _, _, n in phases)
    budget = sum(rows[-1]["env_steps"] for rows in trials)
    iteration = statistics.median(row["time_this_iter_s"] for rows in trials for row in rows[1:])
    return Sweep(seeds, wall, steps, window, budget, iteration)


def read_rows(path: Path) -> list[dict]:
    """The per-iteration rows (the trial's final report, after export, has no env_steps)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if "env_steps" in row]


def phase(rows: list[dict]) -> tuple[float, float, float]:
    """(start, end, env steps) of a trial's training phase: from the end of its first iteration
    to the end of its last. Row k ended at t0 + time_total_s[k] and its timestamp is that time
    in whole seconds, so t0 lies in [timestamp - total, timestamp + 1 - total) for every row:
    the middle of the rows' common range is t0 to well under a second."""
    low = max(row["timestamp"] - row["time_total_s"] for row in rows)
    high = min(row["timestamp"] + 1 - row["time_total_s"] for row in rows)
    t0 = (low + high) / 2
    first, last = rows[0], rows[-1]
    steps = last["env_steps"] - first["env_steps"]
    return t0 + first["time_total_s"], t0 + last["time_total_s"], steps


def spin(seconds: float) -> int:
    """Units of pure-Python work done in `seconds`."""
    end, work = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        for _ in range(10_000):
            work += 1
    return work


def cpu_ceiling(n: int, seconds: float) -> float:
    with ProcessPoolExecutor(n) as pool:
        pool.submit(spin, 0.1).result()  # the pool's processes start first
        alone = pool.submit(spin, seconds).result()
        together = sum(pool.map(spin, [seconds] * n))
    return together / alone


def load_average() -> str:
    """The machine's 1, 5 and 15 min load: these figures are only as quiet as the machine."""
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def main() -> int:
    args = parse_args()
    from rayprune.sweep.config import load_config

    cfg = load_config(args.config, [f"budget_env_steps={args.budget}", *POINT, *args.set])
    ceiling = cpu_ceiling(args.trials, args.spin)
    workdir = Path(tempfile.mkdtemp(prefix="rayprune-throughput-"))
    runs: dict[int, list[Sweep]] = {1: [], args.trials: []}
    try:
        for repeat in range(args.repeats):
            order = [1, args.trials] if repeat % 2 == 0 else [args.trials, 1]
            for n in order:
                name = f"throughput_{n}x_r{repeat}"
                runs[n].append(run_sweep(name, n, args, workdir / name))
                print(
                    f"{name}: {runs[n][-1].rate:,.0f} env steps/s in training, "
                    f"{runs[n][-1].end_to_end:,.0f} end to end",
                    flush=True,
                )
    finally:
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)

    def median(n: int, figure: str) -> float:
        return statistics.median(getattr(sweep, figure) for sweep in runs[n])

    print(
        f"{cfg.env}, {cfg.ppo.train_batch_size} env steps/iter, {cfg.num_envs_per_env_runner} "
        f"envs per trial, budget {args.budget} per trial; {os.cpu_count()} CPUs; "
        f"median of {args.repeats} repeat(s); load average (1, 5, 15 min) at the end "
        f"{load_average()}"
    )
    n = args.trials
    print(f"{'':<24} {'1 trial':>9} {f'{n} trials':>9} {'ratio':>6} (ideal {n})")
    for label, figure, digits in (
        ("training env steps/s", "rate", 0),
        ("end-to-end env steps/s", "end_to_end", 0),
        ("training window s", "window_s", 2),
        ("sweep wall time s", "wall_s", 1),
        ("s per iteration, a trial", "iteration_s", 3),
    ):
        a, b = median(1, figure), median(n, figure)
        print(f"{label:<24} {a:9,.{digits}f} {b:9,.{digits}f} {b / a:6.2f}")
    print(f"CPU ceiling: {n} busy processes did {ceiling:.2f}x the work of one (before the sweeps)")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

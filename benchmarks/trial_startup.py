"""Where a sweep trial's start-up goes: from the moment Ray is asked for the trial's process to
its first training iteration, in a fresh worker process (a sweep's first trial per CPU, and
every trial on a multi-node cluster) and in a worker that has run a trial before (what Tune's
reuse_actors gives later trials of a sweep on one node).

    python benchmarks/trial_startup.py [--config tune_configs/quickstart.yaml] [--repeats 3]

Phases: process (Ray starts the worker and runs the call), import (rayprune's trainable: RLlib,
torch, MLflow, ONNX), build (the PPO algorithm with our module, Learner and EnvRunner), first
iteration. Target: a trial's start-up (everything before the first iteration) <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

from overhead import load_average  # benchmarks/, the script's folder

TARGET_S = 5.0


class Phases(NamedTuple):
    process_s: float
    import_s: float
    build_s: float
    first_iteration_s: float

    @property
    def startup_s(self) -> float:
        return self.process_s + self.import_s + self.build_s


def one_trial(config: Path, asked_at: float) -> Phases:
    """In the worker: what a trial does before and at its first iteration."""
    started = time.time()
    t0 = time.perf_counter()
    from rayprune.sweep import trainable
    from rayprune.sweep.config import load_config
    from rayprune.sweep.config.grid import points

    t1 = time.perf_counter()
    cfg = load_config(config)
    algo = trainable._build(cfg, next(iter(points(cfg))))
    t2 = time.perf_counter()
    algo.train()
    t3 = time.perf_counter()
    algo.stop()
    return Phases(started - asked_at, t1 - t0, t2 - t1, t3 - t2)


def measure(config: Path, repeats: int) -> tuple[list[Phases], list[Phases]]:
    import ray

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})  # fmt: skip
    try:
        fresh_task = ray.remote(num_cpus=1, max_calls=1)(one_trial)  # a new process each call

        @ray.remote(num_cpus=1)
        class Worker:  # one process, trial after trial, as Tune's reuse_actors runs them
            def run(self, config: Path, asked_at: float) -> Phases:
                return one_trial(config, asked_at)

        fresh = [ray.get(fresh_task.remote(config, time.time())) for _ in range(repeats)]
        worker = Worker.remote()
        ray.get(worker.run.remote(config, time.time()))  # its first trial is a fresh one
        reused = [ray.get(worker.run.remote(config, time.time())) for _ in range(repeats)]
    finally:
        ray.shutdown()
    return fresh, reused


def row(name: str, runs: list[Phases]) -> str:
    med = Phases(*(statistics.median(getattr(r, f) for r in runs) for f in Phases._fields))
    return (
        f"{name:<22}{med.process_s:9.2f}{med.import_s:8.2f}{med.build_s:8.2f}"
        f"{med.first_iteration_s:11.2f}{med.startup_s:10.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("tune_configs/quickstart.yaml"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local Ray only this process uses
    fresh, reused = measure(args.config.resolve(), args.repeats)
    print(f"{args.config}: median of {args.repeats}, seconds; load average "
          f"{load_average()}")  # fmt: skip
    print(f"{'trial process':<22}{'process':>9}{'import':>8}{'build':>8}{'1st iter':>11}"
          f"{'start-up':>10}")  # fmt: skip
    print(row("fresh", fresh))
    print(row("reused", reused))
    for name, runs in (("fresh", fresh), ("reused", reused)):
        startup = statistics.median(r.startup_s for r in runs)
        verdict = "met" if startup <= TARGET_S else "NOT met"
        print(f"start-up {name} {startup:.2f} s (target <= {TARGET_S} s: {verdict})")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())

"""Scale-out: the same sweep on a Ray cluster of one raylet, then of two (same CPUs per raylet).

    python benchmarks/scale_out.py [--config tune_configs/quickstart.yaml] [--cpus-per-raylet 1]
        [--budget 30000] [--set KEY=VALUE ...]

Each run starts its own cluster on this machine (token auth on, `ray start --block` per node in
its own process group, stopped by that group) and one `mlflow server` on loopback that both
sweeps log to, as on a real cluster; `rayprune sweep --address ... --tracking-uri ...` is timed
from launch to exit. Prints trials per hour for each size and the ratio (ideal: 2.0; the driver,
the MLflow server and Ray's own processes share the machine's cores with the trials).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.processes import MlflowServer, RayCluster  # noqa: E402


def timed_sweep(name: str, raylets: int, args: argparse.Namespace, server: MlflowServer) -> float:
    cluster = RayCluster()
    try:
        cluster.start_head(num_cpus=args.cpus_per_raylet)
        for _ in range(raylets - 1):
            cluster.add_node(num_cpus=args.cpus_per_raylet)
        overrides = [f"name={name}", f"budget_env_steps={args.budget}", *args.set]
        command = [
            sys.executable, "-m", "rayprune.cli", "sweep", str(args.config),
            *[arg for item in overrides for arg in ("--set", item)],
            "--address", cluster.address, "--tracking-uri", server.uri,
            "--results", str(args.workdir / name),
        ]  # fmt: skip
        start = time.monotonic()
        proc = subprocess.run(
            command, env=cluster.client_env(), capture_output=True, text=True, cwd=REPO
        )
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"sweep {name} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return seconds
    finally:
        cluster.stop()


def trial_span(server: MlflowServer, name: str) -> tuple[int, float]:
    """How many trials finished, and the seconds from the first one's start to the last one's
    end (the sweep's start-up and its report at the end excluded)."""
    from mlflow.tracking import MlflowClient

    from rayprune.store.tracking import trial_runs

    runs = trial_runs(MlflowClient(server.uri), name)
    start = min(r.info.start_time for r in runs)
    end = max(r.info.end_time for r in runs)
    return len(runs), (end - start) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=REPO / "tune_configs" / "quickstart.yaml")
    parser.add_argument("--budget", type=int, default=30_000, help="env steps per trial")
    parser.add_argument("--cpus-per-raylet", type=int, default=1)
    parser.add_argument(
        "--set", action="append", default=["pruning.start_iter=2", "pruning.end_iter=10"],
        help="more config overrides, as for `rayprune sweep --set`",
    )  # fmt: skip
    args = parser.parse_args()
    args.workdir = Path(tempfile.mkdtemp(prefix="rayprune-scale-out-"))
    server = MlflowServer(args.workdir)
    server.start()
    try:
        stamp = int(time.time())
        command_rate, trial_rate = {}, {}
        for raylets in (1, 2):
            name = f"scale_out_{raylets}x{args.cpus_per_raylet}cpu_{stamp}"
            seconds = timed_sweep(name, raylets, args, server)
            trials, span = trial_span(server, name)
            command_rate[raylets] = trials / seconds * 3600
            trial_rate[raylets] = trials / span * 3600
            print(
                f"{raylets} raylet(s) x {args.cpus_per_raylet} CPU: {trials} trials; whole command "
                f"{seconds:.0f} s = {command_rate[raylets]:.0f} trials/hour; first trial start to "
                f"last trial end {span:.0f} s = {trial_rate[raylets]:.0f} trials/hour",
                flush=True,
            )
    finally:
        server.stop()
    print(
        f"scale-out ratio (2 raylets / 1): {trial_rate[2] / trial_rate[1]:.2f} over the trials' "
        f"span, {command_rate[2] / command_rate[1]:.2f} over the whole command (ideal 2.00)"
    )
    print(f"machine: {os.cpu_count()} cores; results and MLflow store in {args.workdir}")
    print("command: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

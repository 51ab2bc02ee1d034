"""Eval return of a finished sweep per (method, lambda, sparsity_target), mean +- std over seeds,
with the compact size, the reward target check, and how many env steps the training return took
to first reach the target (mean over the seeds that reached it).

    python benchmarks/sweep_table.py NAME [--results rayprune_results] [--target 475] [--min-seeds 4]

Reads the sweep's MLflow runs (eval_return_mean is the exported ONNX policy's deterministic
return over eval_episodes episodes). A row meets the target when at least --min-seeds seeds
reach --target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name")
    parser.add_argument("--results", type=Path, default=Path("rayprune_results"))
    parser.add_argument("--target", type=float, default=475.0)
    parser.add_argument("--min-seeds", type=int, default=4)
    args = parser.parse_args()

    from rayprune.sweep.tracking import client_for, experiment_id
    from rayprune.sweep.workspace import Workspace

    uri = Workspace.create(args.results).load_sweep(args.name)[1].tracking_uri
    client = client_for(uri)
    runs = client.search_runs(
        [experiment_id(client, args.name)], filter_string="attributes.status = 'FINISHED'"
    )
    groups: dict[tuple, list] = defaultdict(list)
    for run in runs:
        p, m = run.data.params, run.data.metrics
        m = {**m, "steps_to_target": steps_to_target(client, run.info.run_id, args.target)}
        groups[(p["method"], float(p["lambda"]), float(p["sparsity_target"]))].append(m)

    print(f"sweep {args.name}: {len(runs)} finished runs ({uri})")
    print(
        f"{'method':<6} {'lambda':>8} {'sparsity':>8} {'seeds':>5} {'eval return':>18} {'>= target':>9} {'neurons':>8} {'weights':>8} {'env steps':>9}"
    )
    for (method, lam, target), ms in sorted(groups.items()):
        returns = [m["eval_return_mean"] for m in ms]
        hits = sum(r >= args.target for r in returns)
        std = statistics.pstdev(returns) if len(returns) > 1 else 0.0
        print(
            f"{method:<6} {lam:>8g} {target:>8g} {len(ms):>5} {statistics.mean(returns):>9.1f} +- {std:>5.1f} "
            f"{hits:>4}/{len(ms):<4} {statistics.mean(m['neurons_compact'] for m in ms):>8.1f} "
            f"{statistics.mean(m['weights_compact'] for m in ms):>8.0f} {max(m['env_steps'] for m in ms):>9.0f} {mean_reached(ms):>9}"
        )
    print(f"target: eval return >= {args.target:g} for at least {args.min_seeds} seeds")
    met = [
        k
        for k, ms in groups.items()
        if k[0] != "ppo" and sum(m["eval_return_mean"] >= args.target for m in ms) >= args.min_seeds
    ]
    print(
        "rows meeting it: "
        + (", ".join(f"{k[0]} lambda={k[1]:g} sparsity={k[2]:g}" for k in sorted(met)) or "none")
    )
    return 0


def steps_to_target(client, run_id: str, target: float) -> float | None:
    """Env steps at the first iteration whose training episode_return_mean reached target."""
    steps = {m.step: m.value for m in client.get_metric_history(run_id, "env_steps")}
    for m in sorted(client.get_metric_history(run_id, "episode_return_mean"), key=lambda m: m.step):
        if m.value >= target and m.step in steps:
            return steps[m.step]
    return None


def mean_reached(ms: list[dict]) -> str:
    reached = [m["steps_to_target"] for m in ms if m["steps_to_target"] is not None]
    return f"{statistics.mean(reached) / 1000:.0f}k" if reached else "-"


if __name__ == "__main__":
    sys.exit(main())

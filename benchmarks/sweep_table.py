"""Eval return of a finished sweep per (method, lambda, sparsity_target), mean +- std over seeds,
with the compact size, the reward target check, and how many env steps the training return took
to first reach the target (mean over the seeds that reached it).

    python benchmarks/sweep_table.py NAME [--results rayprune_results] [--target 475] [--min-seeds 4]
                                          [--best-lambda]

--best-lambda keeps, per (method, sparsity_target), the lambda with the highest mean eval return
(ties: fewer weights). The paper's reported return (rayprune/report/paper.py) is printed beside
the rows at its 93% and beside dense PPO. `rayprune report NAME` draws the same numbers.

Reads the sweep's MLflow runs (eval_return_mean is the exported ONNX policy's deterministic
return over eval_episodes episodes). A row meets the target when at least --min-seeds seeds
reach --target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name")
    parser.add_argument("--results", type=Path, default=Path("rayprune_results"))
    parser.add_argument("--target", type=float, default=475.0)
    parser.add_argument("--min-seeds", type=int, default=4)
    parser.add_argument("--best-lambda", action="store_true")
    args = parser.parse_args()

    from rayprune import names
    from rayprune.report.aggregate import best_lambda, cells
    from rayprune.report.data import load_histories, load_sweep
    from rayprune.report.paper import paper_return
    from rayprune.store.tracking import client_for
    from rayprune.sweep.workspace import Workspace

    uri = Workspace.create(args.results).load_sweep(args.name)[1].tracking_uri
    client = client_for(uri)
    sweep = load_sweep(client, args.name)
    grid = cells(sweep.trials)
    if args.best_lambda:
        grid = best_lambda(grid)
    histories = load_histories(
        client,
        [t.run_id for c in grid for t in c.trials],
        [names.EPISODE_RETURN_MEAN],
    )
    print(f"sweep {args.name}: {len(sweep.trials)} finished runs ({uri})")
    print(
        f"{'method':<6} {'lambda':>8} {'sparsity':>8} {'seeds':>5} {'eval return':>18} {'>= target':>9} {'neurons':>8} {'weights':>8} {'FLOPs':>7} {'env steps':>9} {'to target':>9}  paper (93%)"
    )
    met = []
    for c in grid:
        mean, std = c.stat(names.EVAL_RETURN_MEAN)
        hits = sum(t.metric(names.EVAL_RETURN_MEAN) >= args.target for t in c.trials)
        curves = [histories[(t.run_id, names.EPISODE_RETURN_MEAN)] for t in c.trials]
        reached = [steps_to_target(curve, args.target) for curve in curves]
        # runs logged before flops_compact existed have only the last iteration's flops
        flops = [t.metrics.get(names.FLOPS_COMPACT, t.metric(names.FLOPS)) for t in c.trials]
        print(
            f"{c.method:<6} {c.lam:>8g} {c.sparsity_target:>8g} {c.seeds:>5} {mean:>9.1f} +- {std:>5.1f} "
            f"{hits:>4}/{c.seeds:<4} {c.mean(names.NEURONS_COMPACT):>8.1f} "
            f"{c.mean(names.WEIGHTS_COMPACT):>8.0f} {statistics.mean(flops):>7.0f} "
            f"{max(max(curve, default=0) for curve in curves):>9.0f} {mean_reached(reached):>9}  "
            f"{paper_return(c.method, sweep.env, c.sparsity_target, c.method == names.DENSE_METHOD) or '-'}"
        )
        if c.method != names.DENSE_METHOD and hits >= args.min_seeds:
            met.append(c)
    print(f"target: eval return >= {args.target:g} for at least {args.min_seeds} seeds")
    print(
        "rows meeting it: "
        + (
            ", ".join(f"{c.method} lambda={c.lam:g} sparsity={c.sparsity_target:g}" for c in met)
            or "none"
        )
    )
    return 0


def steps_to_target(returns: dict[int, float], target: float) -> float | None:
    """Env steps (the curve's step) at the first iteration whose training episode_return_mean
    reached target."""
    return next((step for step in sorted(returns) if returns[step] >= target), None)


def mean_reached(reached: list[float | None]) -> str:
    """Mean env steps to the target over the seeds that reached it."""
    hits = [r for r in reached if r is not None]
    return f"{statistics.mean(hits) / 1000:.0f}k" if hits else "-"


if __name__ == "__main__":
    sys.exit(main())

"""Eval return of a finished sweep per (method, lambda, sparsity_target), mean +- std over seeds,
with the compact size, the reward target check, and how many env steps the training return took
to first reach the target (mean over the seeds that reached it).

    python benchmarks/sweep_table.py NAME [--results rayprune_results] [--target 475] [--min-seeds 4]
                                          [--best-lambda]

--best-lambda keeps, per (method, sparsity_target), the lambda with the highest mean eval return
(ties: fewer weights) and prints the paper's reported return at 93% beside it.

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
    parser.add_argument("--best-lambda", action="store_true")
    args = parser.parse_args()

    from rayprune.sweep.tracking import client_for, trial_runs
    from rayprune.sweep.workspace import Workspace

    uri = Workspace.create(args.results).load_sweep(args.name)[1].tracking_uri
    client = client_for(uri)
    runs = trial_runs(client, args.name)
    groups: dict[tuple, list] = defaultdict(list)
    for run in runs:
        p, m = run.data.params, run.data.metrics
        m = {**m, "steps_to_target": steps_to_target(client, run.info.run_id, args.target)}
        groups[(p["method"], float(p["lambda"]), float(p["sparsity_target"]))].append(m)

    if args.best_lambda:
        groups = best_lambda(groups)
    env = runs[0].data.params["env"] if runs else ""
    print(f"sweep {args.name}: {len(runs)} finished runs ({uri})")
    print(
        f"{'method':<6} {'lambda':>8} {'sparsity':>8} {'seeds':>5} {'eval return':>18} {'>= target':>9} {'neurons':>8} {'weights':>8} {'FLOPs':>7} {'env steps':>9} {'to target':>9}  paper (93%)"
    )
    for (method, lam, target), ms in sorted(groups.items()):
        returns = [m["eval_return_mean"] for m in ms]
        hits = sum(r >= args.target for r in returns)
        std = statistics.pstdev(returns) if len(returns) > 1 else 0.0
        print(
            f"{method:<6} {lam:>8g} {target:>8g} {len(ms):>5} {statistics.mean(returns):>9.1f} +- {std:>5.1f} "
            f"{hits:>4}/{len(ms):<4} {statistics.mean(m['neurons_compact'] for m in ms):>8.1f} "
            f"{statistics.mean(m['weights_compact'] for m in ms):>8.0f} "
            f"{statistics.mean(m.get('flops_compact', m['flops']) for m in ms):>7.0f} "
            f"{max(m['env_steps'] for m in ms):>9.0f} {mean_reached(ms):>9}  "
            f"{PAPER_93.get((method, env), '-')}"
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


# The paper's Table (METHOD.md), mean +- std return at 93% pruning; dense PPO unpruned.
PAPER_93 = {
    ("ppo", "CartPole-v1"): "449.22",
    ("dsp", "CartPole-v1"): "272.99 +- 124.96",
    ("ssl", "CartPole-v1"): "239.08 +- 127.72",
    ("dropout", "CartPole-v1"): "-52.22 (sic)",
    ("l1", "CartPole-v1"): "402.82 +- 10.11",
    ("pops", "CartPole-v1"): "442.77 +- 10",
    ("sgs", "CartPole-v1"): "268.26 (text, Fig. 5)",
    ("ppo", "LunarLander-v3"): "-61.03",
    ("dsp", "LunarLander-v3"): "-28.09 +- 157.55",
    ("ssl", "LunarLander-v3"): "-44.22 +- 119.13",
    ("dropout", "LunarLander-v3"): "-144.36 +- 9.47",
    ("l1", "LunarLander-v3"): "-49.43 +- 47.11",
    ("pops", "LunarLander-v3"): "134.33 +- 19.28",
    ("dsp", "Hopper-v5"): "1476.62 +- 997.43",
    ("ssl", "Hopper-v5"): "1158.74 +- 844.18",
    ("dropout", "Hopper-v5"): "1445.25 +- 155.49",
    ("l1", "Hopper-v5"): "1396.63",
    ("pops", "Hopper-v5"): "2198 +- 97.36",
    ("dsp", "Walker2d-v5"): "1310.67 +- 899.28",
    ("ssl", "Walker2d-v5"): "1098.34 +- 842.67",
    ("dropout", "Walker2d-v5"): "1002.57 +- 201.99",
    ("l1", "Walker2d-v5"): "2032.92",
    ("pops", "Walker2d-v5"): "1428.67 +- 496.58",
}


def best_lambda(groups: dict[tuple, list]) -> dict[tuple, list]:
    """Per (method, sparsity_target), the lambda row with the best mean eval return."""
    best: dict[tuple, tuple] = {}
    for key, ms in groups.items():
        score = (
            statistics.mean(m["eval_return_mean"] for m in ms),
            -statistics.mean(m["weights_compact"] for m in ms),
        )
        slot = (key[0], key[2])
        if slot not in best or score > best[slot][0]:
            best[slot] = (score, key)
    return {key: groups[key] for _, key in best.values()}


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

"""The end of a frontier search: the frontier printed with its cost, and logged as the sweep's
`frontier` summary run."""

from __future__ import annotations

from rayprune import names
from rayprune.errors import SweepError
from rayprune.policy import check_env
from rayprune.store.frontier_record import (
    RANDOM,
    SUMMARY,
    FrontierRow,
    SearchCost,
    log_frontier,
    search_cost,
)
from rayprune.store.tracking import client_for
from rayprune.sweep.config import SweepConfig
from rayprune.sweep.config.specs import env_spec
from rayprune.sweep.frontier.bisection import (
    MethodFrontier,
    ProbeScore,
    Reference,
    reference_of,
    score_probe,
    summarize,
)
from rayprune.sweep.frontier.plan import method_searches
from rayprune.sweep.frontier.searcher import finished_trials, random_return_mean, reference_trials


def conclude(results, cfg: SweepConfig, tracking_uri: str) -> list[MethodFrontier] | None:
    """Print the frontier and log it as the sweep's `frontier` summary run; None when the
    search has no reference (dense PPO unfinished, or no better than random)."""
    # Rebuilt from the config rather than taken from the searcher: after `rayprune resume` the
    # searcher lives inside Tune's restored state, out of reach. Both are deterministic (same
    # levels, same seeded random episodes), so this repeats start_sweep's values in seconds.
    searches = method_searches(cfg, check_env(env_spec(cfg)))
    finished = reference_trials(cfg, tracking_uri) + finished_trials(results, searches)
    seeds, keep = list(cfg.grid.seed), cfg.search.keep
    r_random = random_return_mean(cfg)
    try:
        ref = reference_of(finished, seeds, r_random)
    except SweepError as err:
        print(f"\nrayprune: {err}")
        return None
    if ref is None:
        print("\nrayprune: dense PPO has not finished on every seed: no frontier yet")
        return None
    dense = [f for f in finished if f.point.method == names.DENSE_METHOD]
    frontiers = summarize(searches, finished, ref, keep)
    print_frontier(frontiers, ref, keep, len(seeds))
    print_cost(search_cost(client_for(tracking_uri), cfg.name))
    rows = [score_probe(dense, seeds, [0.0], ref).row("neurons", keep, frontier=False)]
    rows.append(_random_row(ref, len(seeds)))
    for f in frontiers:
        rows += [p.row(f.unit, keep, frontier=p == f.found) for p in f.probes]
    description = (
        f"Not a trial: the frontier search of sweep {cfg.name!r} at keep {keep:g}. One row per "
        f"probe at its best lambda, retained return = (R - R_random) / (R_dense - R_random) over "
        f"{len(seeds)} seed(s); rows with frontier = true are each method's sparsest policy that "
        f"keeps {keep:g}; the rows of method ppo and random are the references."
    )
    log_frontier(rows, tracking_uri, cfg.name, description)
    print(f"  logged to MLflow: run {SUMMARY!r}, artifacts {SUMMARY}.json and {SUMMARY}.csv")
    return frontiers


def _random_row(ref: Reference, seeds: int) -> FrontierRow:
    score = ProbeScore(RANDOM, 0.0, 0.0, 0.0, ref.r_random, 0.0, 0.0, seeds)
    return score.row("neurons", 1.0, frontier=False)


def print_frontier(frontiers: list[MethodFrontier], ref: Reference, keep: float, seeds: int):
    print(
        f"\nFrontier at keep {keep:g}: the sparsest policy per method whose retained return "
        f"(R - R_random) / (R_dense - R_random), mean over {seeds} seed(s), is >= {keep:g} "
        f"(dense PPO {ref.r_dense:.1f}, random {ref.r_random:.1f})\n"
        f"{'method':<8} {'sparsity':>9} {'kept':>16} {'lambda':>8} {'retained':>16} {'probes':>7}"
    )
    for f in frontiers:
        state = "" if f.complete else "  (search unfinished)"
        if f.found is None:
            none = "none within the bounds keeps it" if f.complete else "none keeps it yet"
            print(f"{f.method:<8} {none:>50} {len(f.probes):>7}{state}")
            continue
        p = f.found
        kept = f"{p.kept:.0f} {f.unit}"
        retained = f"{p.retained_mean:.3f} +- {p.retained_std:.3f}"
        print(
            f"{f.method:<8} {p.sparsity_target:>9.4g} {kept:>16} {p.lam:>8.2g} {retained:>16} "
            f"{len(f.probes):>7}{state}"
        )


def print_cost(cost: SearchCost) -> None:
    spent = [
        f"{'dense PPO' if m == names.DENSE_METHOD else m} {n} trials, "
        f"{cost.env_steps[m]:,} env steps"
        for m, n in cost.trials.items()
    ]
    print(f"  cost: {'; '.join(spent)}; {cost.wall_minutes:.1f} min from first start to last end")

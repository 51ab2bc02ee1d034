"""The Pareto front of a sweep's finished trials: eval return up, compact weights down."""

from __future__ import annotations

from typing import Any

from rayprune.sweep.tracking import log_summary

UP, DOWN = "eval_return_mean", "weights_compact"
SUMMARY = "pareto_front"  # the sweep-level MLflow run and its pareto_front.json / .csv


def dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a is at least as good as b in both objectives and better in one."""
    return a[UP] >= b[UP] and a[DOWN] <= b[DOWN] and (a[UP] > b[UP] or a[DOWN] < b[DOWN])


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row dominates (equal rows all stay), fewest weights first."""
    front = [r for r in rows if not any(dominates(other, r) for other in rows)]
    return sorted(front, key=lambda r: (r[DOWN], -r[UP]))


def report_front(rows: list[dict[str, Any]], tracking_uri: str, sweep: str) -> None:
    """Print the front of `rows` (trial, point keys, objectives) and log it to MLflow."""
    front = pareto_front(rows)
    print(
        f"\nPareto front ({UP} up, {DOWN} down): {len(front)} of {len(rows)} finished trials\n"
        f"{'trial':<34} {'eval_return':>12} {'weights':>8} {'method':>8} {'lambda':>10} "
        f"{'sparsity':>8} {'seed':>5}"
    )
    for r in front:
        print(
            f"{r['trial']:<34} {r[UP]:>12.1f} {r[DOWN]:>8.0f} {r['method']:>8} "
            f"{r['lambda']:>10.3g} {r['sparsity_target']:>8g} {r['seed']:>5}"
        )
    if front:
        log_summary(tracking_uri, sweep, SUMMARY, front)
        print(f"  logged to MLflow: run {SUMMARY!r}, artifacts {SUMMARY}.json and {SUMMARY}.csv")

"""The Pareto front of a sweep's finished trials: eval return up, compact weights down."""

from __future__ import annotations

from dataclasses import dataclass

from rayprune import names
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import log_summary

SUMMARY = "pareto_front"  # the sweep-level MLflow run and its pareto_front.json / .csv


@dataclass(frozen=True)
class Outcome:
    """A finished trial as the front sees it: its point and its two objectives."""

    trial: str
    point: TrialPoint
    eval_return_mean: float
    weights_compact: float

    def row(self) -> dict[str, float | str]:
        """One row of pareto_front.json / .csv (column names: rayprune.names)."""
        return {
            "trial": self.trial,
            **self.point.to_params(),
            names.EVAL_RETURN_MEAN: self.eval_return_mean,
            names.WEIGHTS_COMPACT: self.weights_compact,
        }


def dominates(a: Outcome, b: Outcome) -> bool:
    """a is at least as good as b in both objectives and better in one."""
    up = a.eval_return_mean >= b.eval_return_mean and a.weights_compact <= b.weights_compact
    return up and (a.eval_return_mean > b.eval_return_mean or a.weights_compact < b.weights_compact)


def pareto_front(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes no other dominates (equal ones all stay), fewest weights first."""
    front = [o for o in outcomes if not any(dominates(other, o) for other in outcomes)]
    return sorted(front, key=lambda o: (o.weights_compact, -o.eval_return_mean))


def log_front(front: list[Outcome], tracking_uri: str, sweep: str) -> str:
    """The sweep's `pareto_front` summary run; returns its run id."""
    description = (
        f"Not a trial: the Pareto front of sweep {sweep!r}'s finished trials "
        f"({names.EVAL_RETURN_MEAN} up, {names.WEIGHTS_COMPACT} down), in {SUMMARY}.json and "
        f"{SUMMARY}.csv; rewritten when the sweep resumes. Kept out of rayprune's runs view."
    )
    return log_summary(tracking_uri, sweep, SUMMARY, [o.row() for o in front], description)

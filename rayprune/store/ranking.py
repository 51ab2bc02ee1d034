"""The one rule that orders trials (for `rayprune best`) and grid cells (for the report's best
lambda and pictured policies): highest eval return, then fewest weights, then highest final
training return, then lowest lambda, then lowest seed. Each criterion only decides among those
the ones before it left tied, so the outcome can say what broke a tie and among how many."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from rayprune import names
from rayprune.store.point import TrialPoint

T = TypeVar("T")

CRITERIA = (
    "highest eval return",
    "fewest weights",
    "highest final training return",
    "lowest lambda",
    "lowest seed",
)
RULE = ", then ".join(CRITERIA)


class Standing(NamedTuple):
    """What the rule compares, in its order. `score` is the eval return unless `best --metric`
    names another metric; a missing (NaN) value ranks last in its criterion."""

    score: float
    weights: float
    training_return: float
    lam: float
    seed: float

    def key(self) -> tuple[float, ...]:
        """Larger is better in every place."""
        return (
            _higher(self.score),
            -_lower(self.weights),
            _higher(self.training_return),
            -_lower(self.lam),
            -_lower(self.seed),
        )


def trial_standing(
    metrics: Mapping[str, float], point: TrialPoint, metric: str = names.EVAL_RETURN_MEAN
) -> Standing:
    """A trial run's place under the rule, from its final metrics (the code's names): what
    `best` and the report's pictured policies both rank by."""
    return Standing(
        score=metrics.get(metric, math.nan),
        weights=metrics.get(names.WEIGHTS_COMPACT, math.nan),
        training_return=metrics.get(names.EPISODE_RETURN_MEAN, math.nan),
        lam=point.lam,
        seed=point.seed,
    )


def _higher(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def _lower(value: float) -> float:
    return value if math.isfinite(value) else math.inf


@dataclass(frozen=True)
class Pick(Generic[T]):
    """The chosen item and, after each criterion in turn, how many were still tied."""

    chosen: T
    left: tuple[int, ...]

    @property
    def tied(self) -> int:
        """How many shared the best score (1: no tie)."""
        return self.left[0]

    @property
    def decided_by(self) -> str | None:
        """The criterion that broke the tie; None when the score alone decided."""
        if self.tied == 1:
            return None
        return CRITERIA[next(i for i, n in enumerate(self.left) if n == 1)]

    def tie_note(self, first: str = CRITERIA[0]) -> str | None:
        """'6 tied on highest eval return; fewest weights left 6, highest final training return
        left 2, lowest lambda left 1', or None without a tie."""
        if self.tied == 1:
            return None
        steps = []
        for criterion, n in zip(CRITERIA[1:], self.left[1:]):
            steps.append(f"{criterion} left {n}")
            if n == 1:
                break
        return f"{self.tied} tied on {first}; " + ", ".join(steps)


def pick(items: Sequence[T], standing: Callable[[T], Standing]) -> Pick[T]:
    """The best of `items` by the rule (ValueError when there are none). Items equal in every
    criterion keep their input order: the first wins."""
    if not items:
        raise ValueError("nothing to pick from")
    keyed = [(standing(item).key(), item) for item in items]
    left = []
    for place in range(len(CRITERIA)):
        best = max(key[place] for key, _ in keyed)
        keyed = [(key, item) for key, item in keyed if key[place] == best]
        left.append(len(keyed))
    return Pick(keyed[0][1], tuple(left))


def ordered(items: Sequence[T], standing: Callable[[T], Standing]) -> list[T]:
    """`items` best first by the rule: pick's choice first, then pick's choice of the rest, and
    so on (items equal in every criterion keep their input order)."""
    return sorted(items, key=lambda item: standing(item).key(), reverse=True)

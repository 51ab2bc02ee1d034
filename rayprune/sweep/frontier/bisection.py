"""The frontier search's arithmetic: retained return, how a probe is judged, and the bisection.

A probe is one (method, sparsity target) trained once per seed (and per lambda, when the search
chooses lambda from a list). Pure Python over finished trials, so the searcher that picks the
next probe and the summary written at the end read the same trials the same way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rayprune import names
from rayprune.errors import SweepError
from rayprune.store.frontier_record import FrontierRow
from rayprune.store.point import TrialPoint
from rayprune.sweep.frontier.levels import Level


class Finished(NamedTuple):
    """A trial the search has seen end: its eval return and the units its policy kept (None
    when it failed or ended without an evaluation)."""

    point: TrialPoint
    eval_return: float | None
    kept: float | None


def retained_return(r: float, r_random: float, r_dense: float) -> float:
    """(R - R_random) / (R_dense - R_random): 1 at dense PPO's return, 0 at a random policy's,
    so tasks with negative returns (Acrobot, LunarLander) are judged like the others."""
    return (r - r_random) / (r_dense - r_random)


@dataclass(frozen=True)
class Reference:
    """Dense PPO's mean eval return over the seeds and a uniformly random policy's, on the same
    evaluation episodes."""

    r_dense: float
    r_random: float

    def __post_init__(self) -> None:
        if not self.r_dense > self.r_random:
            raise SweepError(
                f"dense PPO's eval return ({self.r_dense:g}) does not beat a random policy's "
                f"({self.r_random:g}): there is no return to retain"
            )

    def retained(self, r: float | None) -> float:
        return -math.inf if r is None else retained_return(r, self.r_random, self.r_dense)


class ProbeScore(NamedTuple):
    """A probe at its best lambda: retained return over the seeds, and the units kept."""

    method: str
    sparsity_target: float
    lam: float
    kept: float
    eval_return_mean: float
    retained_mean: float
    retained_std: float
    seeds: int

    def row(self, unit: str, keep: float, frontier: bool) -> FrontierRow:
        """Its row of the summary run."""
        return FrontierRow(
            *self[:4], unit, *self[4:], keeps=self.retained_mean >= keep, frontier=frontier
        )


def reference_of(
    finished: Iterable[Finished], seeds: Sequence[int], r_random: float
) -> Reference | None:
    """Dense PPO's reference once every seed's dense trial has finished, else None."""
    dense = {f.point.seed: f.eval_return for f in finished if f.point.method == names.DENSE_METHOD}
    if any(seed not in dense for seed in seeds):
        return None
    failed = [seed for seed in seeds if dense[seed] is None]
    if failed:
        raise SweepError(
            f"dense PPO's trial of seed {failed[0]} ended without an eval return: the frontier "
            f"search has no reference"
        )
    return Reference(statistics.fmean(dense[s] for s in seeds), r_random)


def score_probe(
    trials: Sequence[Finished], seeds: Sequence[int], lambdas: Sequence[float], ref: Reference
) -> ProbeScore | None:
    """The probe's score at its best lambda (highest mean retained return over the seeds),
    once every (lambda, seed) trial of it has finished; else None."""
    by_point = {(f.point.lam, f.point.seed): f for f in trials}
    if any((lam, seed) not in by_point for lam in lambdas for seed in seeds):
        return None
    scores = []
    for lam in lambdas:
        runs = [by_point[(lam, seed)] for seed in seeds]
        retained = [ref.retained(f.eval_return) for f in runs]
        kept = [f.kept for f in runs if f.kept is not None]
        scores.append(
            ProbeScore(
                runs[0].point.method,
                runs[0].point.sparsity_target,
                lam,
                statistics.fmean(kept) if kept else math.nan,
                statistics.fmean(f.eval_return for f in runs)
                if all(f.eval_return is not None for f in runs)
                else math.nan,
                statistics.fmean(retained),
                statistics.pstdev(retained) if all(map(math.isfinite, retained)) else math.nan,
                len(seeds),
            )
        )
    return max(scores, key=lambda s: (s.retained_mean, -s.lam))


class Step(NamedTuple):
    """Where a method's bisection stands: `probe` is the level index to run next (None when
    the search is over), `found` the index of the sparsest level known to keep the return
    (None while none is, or when no level within the bounds keeps it). Known so far, not only
    at the end: an interrupted search still reports the policy it has found."""

    probe: int | None
    found: int | None


def bisect(count: int, keeps: Callable[[int], bool | None]) -> Step:
    """Binary search for the fewest-units level that keeps the return, over `count` levels
    ordered by units kept, assuming more units never retain less. keeps(i) is None while
    level i's probe has not finished. Replayed from the finished probes every time, so a
    resumed search continues where the last one stopped."""
    low, high = 0, count  # levels[high] keeps (high == count: none is known to)
    probe = None
    while low < high:
        mid = (low + high) // 2
        verdict = keeps(mid)
        if verdict is None:
            probe = mid
            break
        if verdict:
            high = mid
        else:
            low = mid + 1
    return Step(probe, high if high < count else None)


@dataclass(frozen=True)
class MethodSearch:
    """One method's bisection over its levels (fewest units first), lambdas and seeds."""

    method: str
    unit: str  # what `kept` counts: neurons, or weights
    levels: tuple[Level, ...]
    lambdas: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def most_probes(self) -> int:
        """A bisection over n levels runs at most ceil(log2(n + 1)) probes."""
        return math.ceil(math.log2(len(self.levels) + 1))

    def points(self, index: int) -> list[TrialPoint]:
        target = self.levels[index].target
        return [TrialPoint(self.method, lam, target, s) for lam in self.lambdas for s in self.seeds]

    def score(self, index: int, finished: Sequence[Finished], ref: Reference | None):
        if ref is None:
            return None
        target = self.levels[index].target
        trials = [
            f for f in finished
            if f.point.method == self.method and f.point.sparsity_target == target
        ]  # fmt: skip
        return score_probe(trials, self.seeds, self.lambdas, ref)

    def step(self, finished: Sequence[Finished], ref: Reference | None, keep: float) -> Step:
        def keeps(index: int) -> bool | None:
            score = self.score(index, finished, ref)
            return None if score is None else score.retained_mean >= keep

        return bisect(len(self.levels), keeps)


class MethodFrontier(NamedTuple):
    """What a method's search found: the sparsest probe that keeps the return (None: none
    within the bounds, or not yet known), every finished probe (fewest units first), and
    whether the bisection has ended."""

    method: str
    unit: str
    found: ProbeScore | None
    probes: list[ProbeScore]
    complete: bool


def summarize(
    searches: Sequence[MethodSearch], finished: Sequence[Finished], ref: Reference, keep: float
) -> list[MethodFrontier]:
    out = []
    for search in searches:
        step = search.step(finished, ref, keep)
        scores = [search.score(i, finished, ref) for i in range(len(search.levels))]
        found = scores[step.found] if step.found is not None else None
        out.append(
            MethodFrontier(
                search.method, search.unit, found, [s for s in scores if s], step.probe is None
            )
        )
    return out

"""The frontier search as a Tune searcher: dense PPO on every seed, then per method a bisection
over the sparsity levels, each probe one trial per (lambda, seed), probes of different methods
side by side. Tune saves its state with the experiment, so `rayprune resume` continues it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from rayprune import names
from rayprune.errors import SweepError
from rayprune.policy import EnvSpaces, eval_seed, random_return
from rayprune.store.frontier_record import dense_results
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import client_for, sqlite_path
from rayprune.sweep.config import SweepConfig
from rayprune.sweep.config.specs import env_spec
from rayprune.sweep.frontier.bisection import Finished, MethodSearch, Reference, reference_of
from rayprune.sweep.frontier.plan import method_searches


def units_of(searches: list[MethodSearch]) -> dict[str, str]:
    """What each method counts its kept units in: neurons, or weights."""
    return {s.method: s.unit for s in searches}


def kept_metric(unit: str) -> str:
    """The final metric that counts a policy's kept units."""
    return names.WEIGHTS_COMPACT if unit == "weights" else names.NEURONS_COMPACT


class FrontierSearch(Searcher):
    """Suggests the trials the search needs next; None while it waits for running ones."""

    def __init__(
        self,
        searches: list[MethodSearch],
        seeds: list[int],
        r_random: float,
        keep: float,
        given: list[Finished] = (),
        from_dense: bool = False,
    ) -> None:
        """`given`: trials finished before the search, an earlier sweep's dense PPO;
        `from_dense`: probes start from dense PPO's trained policies, so they wait for them."""
        super().__init__(metric=names.EVAL_RETURN_MEAN, mode="max")
        self.given = list(given)
        self.searches = searches
        self.seeds = seeds
        self.r_random = r_random
        self.keep = keep
        self.from_dense = from_dense
        self.asked: dict[str, dict[str, Any]] = {}  # Tune trial id -> point params
        self.finished: dict[str, dict[str, Any]] = {}  # Tune trial id -> eval return, kept
        self.failure: str | None = None  # why the search cannot go on

    def history(self) -> list[Finished]:
        return self.given + [
            Finished(TrialPoint.from_params(self.asked[t]), f["eval_return"], f["kept"])
            for t, f in self.finished.items()
        ]

    def reference(self, finished: list[Finished]) -> Reference | None:
        return reference_of(finished, self.seeds, self.r_random)

    def wanted(self) -> list[TrialPoint] | None:
        """The points to run now, in order; None once the search is over."""
        finished = self.history()
        given = {f.point for f in self.given}
        dense = [TrialPoint.dense(s) for s in self.seeds]
        dense = [p for p in dense if p not in given]
        try:
            ref = self.reference(finished)
        except SweepError as err:
            self.failure = str(err)
            return None
        if ref is None and self.from_dense:
            return dense
        steps = [(s, s.step(finished, ref, self.keep)) for s in self.searches]
        probes = [p for s, step in steps if step.probe is not None for p in s.points(step.probe)]
        if ref is not None and not probes:
            return None
        return dense + probes

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        wanted = self.wanted()
        if wanted is None:
            return Searcher.FINISHED if self._idle() else None
        started = {json.dumps(p, sort_keys=True) for p in self.asked.values()}
        for point in wanted:
            params = point.to_params()
            if json.dumps(params, sort_keys=True) not in started:
                self.asked[trial_id] = params
                return {"point": params}
        return None

    def _idle(self) -> bool:
        return set(self.asked) == set(self.finished)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """A trial ended: with its eval return and kept units, or without (failed, stopped)."""
        if trial_id not in self.asked:
            return
        point = TrialPoint.from_params(self.asked[trial_id])
        result = result or {}
        unit = units_of(self.searches).get(point.method, "neurons")
        self.finished[trial_id] = {
            "eval_return": None if error else result.get(names.EVAL_RETURN_MEAN),
            "kept": None if error else result.get(kept_metric(unit)),
        }

    # Tune saves a searcher with save()/restore(); JSON, so nothing is unpickled from the store.
    def save(self, checkpoint_path: str) -> None:
        state = {"asked": self.asked, "finished": self.finished, "failure": self.failure}
        Path(checkpoint_path).write_text(json.dumps(state), encoding="utf-8")

    def restore(self, checkpoint_path: str) -> None:
        state = json.loads(Path(checkpoint_path).read_text(encoding="utf-8"))
        self.asked, self.finished, self.failure = (
            state["asked"],
            state["finished"],
            state["failure"],
        )


def random_return_mean(cfg: SweepConfig) -> float:
    """A uniformly random policy's eval return, mean over the seeds' evaluation episodes."""
    returns = [
        random_return(env_spec(cfg), cfg.eval_episodes, eval_seed(seed)).mean
        for seed in cfg.grid.seed
    ]
    return statistics.fmean(returns)


def reference_trials(cfg: SweepConfig, tracking_uri: str) -> list[Finished]:
    """search.reference's dense PPO trials, as if the search had run them (none without one)."""
    if cfg.search.reference is None:
        return []
    db = sqlite_path(tracking_uri)
    if db is not None and not db.is_file():  # reading must not create a store
        raise SweepError(
            f"search.reference: no sweep named {cfg.search.reference!r}: there is no MLflow "
            f"store at {db} yet"
        )
    client = client_for(tracking_uri)
    found = dense_results(client, cfg.search.reference, cfg.env, list(cfg.grid.seed))
    return [Finished(TrialPoint.dense(d.seed), d.eval_return, d.neurons) for d in found]


def frontier_searcher(cfg: SweepConfig, spaces: EnvSpaces, tracking_uri: str) -> FrontierSearch:
    return FrontierSearch(
        method_searches(cfg, spaces),
        list(cfg.grid.seed),
        random_return_mean(cfg),
        cfg.search.keep,
        reference_trials(cfg, tracking_uri),
        from_dense=cfg.search.init == "dense",
    )


def finished_trials(results, searches: list[MethodSearch]) -> list[Finished]:
    """Tune's results as the search reads them."""
    units = units_of(searches)
    finished = []
    for result in results:
        if not result.config:
            continue
        point = TrialPoint.from_params(result.config["point"])
        metrics = {} if result.error is not None else (result.metrics or {})
        unit = units.get(point.method, "neurons")
        finished.append(
            Finished(point, metrics.get(names.EVAL_RETURN_MEAN), metrics.get(kept_metric(unit)))
        )
    return finished

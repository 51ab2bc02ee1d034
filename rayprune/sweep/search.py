"""How a sweep picks its trials and stops them early: the grid, Optuna's NSGA-II, ASHA."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from rayprune import names
from rayprune.errors import ConfigError
from rayprune.policy import EnvSpaces
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import mark_stopped_early
from rayprune.sweep.config import SweepConfig
from rayprune.sweep.config.grid import points
from rayprune.sweep.frontier.searcher import frontier_searcher

# NSGA-II's objectives; a trial reports them once, in its final result.
OBJECTIVES = {names.EVAL_RETURN_MEAN: "max", names.WEIGHTS_COMPACT: "min"}
# ASHA's: in every per-iteration result (and only there).
ASHA_METRIC = names.EPISODE_RETURN_MEAN
ASHA_TIME = names.ENV_STEPS
MAX_TRIES = 100  # samples in a row that repeat earlier points before the space counts as exhausted

logger = logging.getLogger(__name__)
# Tune's progress table reports the trials; Optuna would add an INFO line for each.
optuna.logging.set_verbosity(optuna.logging.WARNING)


def check_search(cfg: SweepConfig) -> None:
    """What the search and scheduler settings cannot check alone, as one-line ConfigErrors."""
    if cfg.search.kind == "optuna":
        for method, choices in PointSpace.of(cfg).choices.items():
            lambdas = choices[names.LAMBDA]
            if len(lambdas) > 1 and lambdas[0] <= 0:
                raise ConfigError(
                    f"invalid config: search: kind optuna samples {method}'s lambda log-uniformly "
                    f"between grid.lambda's min and max, which must be > 0 (got {lambdas[0]})"
                )
    if cfg.scheduler.kind == "asha" and cfg.scheduler.grace_period >= cfg.budget_env_steps:
        raise ConfigError(
            f"invalid config: scheduler: grace_period ({cfg.scheduler.grace_period}) must be < "
            f"budget_env_steps ({cfg.budget_env_steps}): ASHA stops trials only before their budget"
        )


def trials_planned(cfg: SweepConfig) -> int | None:
    """How many trials the sweep runs unless it is stopped: every grid point, or Optuna's
    num_samples; None for a frontier search, whose searcher decides as it goes."""
    if cfg.search.kind == "grid":
        return len(points(cfg))
    if cfg.search.kind == "optuna":
        return cfg.search.num_samples
    return None


def describe(cfg: SweepConfig) -> str:
    if cfg.search.kind == "grid":
        trials = f"{len(points(cfg))} trials"
    elif cfg.search.kind == "frontier":
        s = cfg.search
        methods = [m for m in cfg.grid.method if m != names.DENSE_METHOD]
        dense = f"the dense PPO of sweep {s.reference!r}" if s.reference else "dense PPO"
        trials = (
            f"a frontier search at keep {s.keep:g}: {dense} on {len(cfg.grid.seed)} seed(s), "
            f"then per method ({', '.join(methods)}) a bisection of the sparsity target in "
            f"[{s.sparsity_min:g}, {s.sparsity_max:g}]"
        )
        if s.init == "dense":
            trials += (
                f", each probe pruning dense PPO's policy over {s.finetune_env_steps:,} env steps"
            )
    else:
        trials = (
            f"up to {cfg.search.num_samples} trials sampled by Optuna NSGA-II "
            f"(population {cfg.search.population_size}, seed {cfg.search.seed})"
        )
    if cfg.scheduler.kind == "asha":
        trials += f", stopped early by ASHA from {cfg.scheduler.grace_period} env steps"
    return trials


def param_space(cfg: SweepConfig, tracking_uri: str, storage: str) -> dict[str, Any]:
    """The trainable's config; with Optuna and the frontier search the searcher adds each
    trial's "point". `storage`: Tune's, where a frontier probe finds dense PPO's checkpoint."""
    space: dict[str, Any] = {"sweep": cfg.dump(), "tracking_uri": tracking_uri, "storage": storage}
    if cfg.search.kind == "grid":
        space["point"] = tune.grid_search([p.to_params() for p in points(cfg)])
    return space


def tune_options(cfg: SweepConfig, spaces: EnvSpaces, tracking_uri: str) -> dict[str, Any]:
    """search_alg, scheduler and num_samples for tune.TuneConfig (Tune's defaults for a grid)."""
    options: dict[str, Any] = {}
    if cfg.search.kind == "frontier":
        options["search_alg"] = frontier_searcher(cfg, spaces, tracking_uri)
        options["num_samples"] = -1  # until the searcher says it has finished
    if cfg.search.kind == "optuna":
        options["search_alg"] = DistinctPoints(
            OptunaSearch(
                space=PointSpace.of(cfg),
                metric=list(OBJECTIVES),
                mode=list(OBJECTIVES.values()),
                sampler=optuna.samplers.NSGAIISampler(
                    population_size=cfg.search.population_size, seed=cfg.search.seed
                ),
            )
        )
        options["num_samples"] = cfg.search.num_samples
    if cfg.scheduler.kind == "asha":
        options["scheduler"] = BudgetASHA(
            budget_env_steps=cfg.budget_env_steps,
            grace_period=cfg.scheduler.grace_period,
            reduction_factor=cfg.scheduler.reduction_factor,
            brackets=cfg.scheduler.brackets,
        )
    return options


def callbacks(cfg: SweepConfig, tracking_uri: str) -> list[tune.Callback]:
    return [StoppedEarly(tracking_uri, cfg.name)] if cfg.scheduler.kind == "asha" else []


@dataclass(frozen=True)
class PointSpace:
    """Optuna's define-by-run space: for the sampled method, the values its grid points take
    (SweepConfig.points), so its rules hold for sampled points too: a method without a penalty
    gets lambda 0, one that does not prune sparsity_target 0. A key with one value is fixed,
    lambda with more is log-uniform between its min and max, the others are categorical."""

    choices: dict[str, dict[str, tuple[Any, ...]]]  # method -> key -> sorted values

    @classmethod
    def of(cls, cfg: SweepConfig) -> PointSpace:
        values: dict[str, dict[str, set[Any]]] = {}
        for point in points(cfg):
            keys = values.setdefault(point.method, {})
            for key, value in point.to_params().items():
                if key != names.METHOD:
                    keys.setdefault(key, set()).add(value)
        return cls(
            {m: {k: tuple(sorted(v)) for k, v in keys.items()} for m, keys in values.items()}
        )

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        """Samples into `trial` under names point/KEY; returns the values it fixes."""
        method = trial.suggest_categorical(f"point/{names.METHOD}", tuple(self.choices))
        fixed: dict[str, Any] = {}
        for key, values in self.choices[method].items():
            name = f"point/{key}"
            if len(values) == 1:
                fixed[name] = values[0]
            elif key == names.LAMBDA:
                trial.suggest_float(name, values[0], values[-1], log=True)
            else:
                trial.suggest_categorical(name, values)
        return fixed


class DistinctPoints(Searcher):
    """Optuna's suggestions, each point once.

    Categorical methods, targets and seeds (and a lambda fixed for methods without a penalty) let
    Optuna sample a point again; a second trial of it would share the first's MLflow run, which
    is keyed by the point. A repeat is answered as Optuna's FAQ suggests, with the first trial's
    objectives (pruned while it has none), and Optuna is asked again; after MAX_TRIES repeats in a
    row the space counts as exhausted and the sweep ends early.
    """

    def __init__(self, searcher: OptunaSearch) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher  # Tune saves and restores the wrapped searcher by this name
        self.asked: dict[str, tuple[str, str]] = {}  # Tune trial id -> (Optuna-side id, point)
        self.objectives: dict[str, dict[str, float] | None] = {}  # point -> objectives, once known

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        for attempt in range(MAX_TRIES):
            inner = f"{trial_id}_{attempt}"
            config = self.searcher.suggest(inner)
            point = json.dumps(config["point"], sort_keys=True)
            if point not in self.objectives:
                self.objectives[point] = None
                self.asked[trial_id] = (inner, point)
                return config
            self.searcher.on_trial_complete(inner, result=self.objectives[point])
        logger.warning("Optuna repeated earlier points %d times in a row: search ends", MAX_TRIES)
        return Searcher.FINISHED

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Objectives from a final result; a trial stopped early or failed has none (pruned)."""
        inner, point = self.asked[trial_id]
        if result and all(m in result for m in OBJECTIVES):
            self.objectives[point] = {m: result[m] for m in OBJECTIVES}
        self.searcher.on_trial_complete(inner, result=self.objectives[point], error=error)

    def get_state(self) -> dict[str, Any]:
        return copy.deepcopy({"asked": self.asked, "objectives": self.objectives})

    def set_state(self, state: dict[str, Any]) -> None:
        self.asked = state["asked"]
        self.objectives = state["objectives"]


class BudgetASHA(AsyncHyperBandScheduler):
    """ASHA on the training return, in env steps. It never stops a trial at its budget: that
    iteration is the trial's last before it exports and evaluates its compact policy."""

    def __init__(self, budget_env_steps: int, **kwargs: Any) -> None:
        super().__init__(
            time_attr=ASHA_TIME, metric=ASHA_METRIC, mode="max", max_t=budget_env_steps, **kwargs
        )
        self.budget_env_steps = budget_env_steps

    def on_trial_result(self, tune_controller, trial, result: dict[str, Any]) -> str:
        if result.get(ASHA_TIME, 0) >= self.budget_env_steps:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)


class StoppedEarly(tune.Callback):
    """Tags the MLflow run of each trial that completes without its final result, which only a
    scheduler's stop does (an interrupted sweep's trials never complete)."""

    def __init__(self, tracking_uri: str, sweep: str) -> None:
        self.tracking_uri = tracking_uri
        self.sweep = sweep

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        if names.EVAL_RETURN_MEAN not in trial.last_result:
            key = TrialPoint.from_params(trial.config["point"]).key(self.sweep)
            mark_stopped_early(self.tracking_uri, self.sweep, key)

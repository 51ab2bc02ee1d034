"""The sweep's YAML, typed and validated at the edge: unknown keys and bad values are errors."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rayprune.errors import ConfigError, SpecError
from rayprune.pruning import (
    METHODS,
    Gates,
    PruningSchedule,
    PruningSpec,
    Reading,
    Scope,
    check_activation,
)
from rayprune.rllib.network import ActorCriticSpec
from rayprune.store.point import TrialPoint

# Where each PruningSpec field sits in the YAML, for one-line errors that name the user's key.
SPEC_KEYS = {
    "lam": "grid.lambda",
    "sparsity_target": "grid.sparsity_target",
    "method": "grid.method",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PPOSettings(Strict):
    """PPO hyperparameters; names are RLlib's except gae_lambda (RLlib's lambda_)."""

    lr: float = Field(3e-4, gt=0)
    gamma: float = Field(0.99, gt=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_param: float = Field(0.2, gt=0)
    vf_clip_param: float = Field(10.0, gt=0)
    entropy_coeff: float = Field(0.0, ge=0)
    vf_loss_coeff: float = Field(0.5, ge=0)
    num_epochs: int = Field(10, ge=1)
    minibatch_size: int = Field(128, ge=1)
    train_batch_size: int = Field(2000, ge=1)
    use_kl_loss: bool = False
    grad_clip: float | None = Field(0.5, gt=0)


class ModelSettings(Strict):
    hidden: list[int] = Field(default_factory=lambda: [128, 128], min_length=1)
    critic_hidden: list[int] = Field(default_factory=lambda: [128, 128], min_length=1)
    activation: str = "tanh"

    @field_validator("hidden", "critic_hidden")
    @classmethod
    def _positive(cls, sizes: list[int]) -> list[int]:
        if any(n < 1 for n in sizes):
            raise ValueError("layer sizes must be >= 1")
        return sizes

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, name: str) -> str:
        return check_activation(name)


class PruningSettings(Strict):
    """The schedule of Eq. 17 in training iterations, how Eq. 18 is read, and the options of
    the baselines (each ignored by the methods it does not concern). Their ranges are checked
    once, by PruningSpec and PruningSchedule, for every grid point (SweepConfig._specs_valid)."""

    reading: Reading = "rank"
    scope: Scope = "layer"
    min_neurons: int = 1
    initial_sparsity: float = 0.0
    start_iter: int = 5
    end_iter: int = 60
    frequency: int = 1
    weight_threshold: float = 1e-3  # l1: weights under it are removed too
    dropout_rate: float = Field(0.0, ge=0, lt=1)  # plain dropout on the actor during updates
    distill_coeff: float = 0.0  # PoPS: weight of the distillation from the teacher
    gates: Gates = "neuron"  # l0: one gate per neuron or weight
    lowrank_energy: float = 0.99  # l0: spectral energy the SVD keeps


class GridSettings(Strict):
    """The trials: method x lambda x sparsity_target x seed (see SweepConfig.points for the
    methods that ignore lambda or sparsity_target)."""

    method: list[str] = Field(default_factory=lambda: ["dsp"], min_length=1)
    lam: list[float] = Field(default_factory=lambda: [1e-4], alias="lambda", min_length=1)
    sparsity_target: list[float] = Field(default_factory=lambda: [0.9], min_length=1)
    seed: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("method")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method {unknown}; choose from {sorted(METHODS)}")
        return methods


class SearchSettings(Strict):
    """How the trials are chosen: every point of `grid`, or Optuna's NSGA-II sampling num_samples
    points from the grid's values for the Pareto front of eval return (up) and compact weights
    (down). NSGA-II samples its first population_size trials at random, then breeds from them."""

    kind: Literal["grid", "optuna"] = "grid"
    num_samples: int | None = Field(None, ge=1)
    population_size: int = Field(50, ge=2)
    seed: int = 0

    @model_validator(mode="after")
    def _fits_kind(self) -> SearchSettings:
        if self.kind == "optuna" and self.num_samples is None:
            raise ValueError("kind optuna needs num_samples (how many trials to sample)")
        if self.kind == "grid" and self.num_samples is not None:
            raise ValueError("num_samples is for kind optuna; a grid runs each point once")
        return self


class SchedulerSettings(Strict):
    """Early stopping: `asha` compares the trials' training episode_return_mean at rungs of
    grace_period * reduction_factor^k env steps and stops those that trail."""

    kind: Literal["none", "asha"] = "none"
    grace_period: int | None = Field(None, ge=1)
    reduction_factor: float = Field(4.0, gt=1)
    brackets: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _fits_kind(self) -> SchedulerSettings:
        if self.kind == "asha" and self.grace_period is None:
            raise ValueError("kind asha needs grace_period (env steps before trials can stop)")
        if self.kind == "none" and self.grace_period is not None:
            raise ValueError("grace_period is for kind asha")
        return self


class SweepConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    env: str
    budget_env_steps: int = Field(ge=1)
    ppo: PPOSettings = PPOSettings()
    model: ModelSettings = ModelSettings()
    pruning: PruningSettings = PruningSettings()
    grid: GridSettings = GridSettings()
    search: SearchSettings = SearchSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    num_envs_per_env_runner: int = Field(8, ge=1)
    max_concurrent_trials: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(10, ge=1)
    max_failures: int = Field(2, ge=0)
    eval_episodes: int = Field(20, ge=1)
    api_stack: Literal["new", "old"] = "new"

    @model_validator(mode="after")
    def _specs_valid(self) -> SweepConfig:
        """Every point's PruningSpec, built as the trial will build it: its checks are the
        single source, surfacing here as one-line config errors naming the YAML key."""
        try:
            PruningSchedule(**self._schedule_settings(max(self.grid.sparsity_target)))
            for point in self.points():
                self.spec_for(point)
        except SpecError as err:
            key = SPEC_KEYS.get(err.field, f"pruning.{err.field}") if err.field else "pruning"
            raise ValueError(f"{key}: {err}") from None
        return self

    @model_validator(mode="after")
    def _schedule_fits(self) -> SweepConfig:
        if not any(METHODS[m].importance for m in self.grid.method):
            return self
        iterations = -(-self.budget_env_steps // self.ppo.train_batch_size)
        if self.pruning.end_iter > iterations:
            raise ValueError(
                f"pruning.end_iter ({self.pruning.end_iter}) is past the budget's last iteration "
                f"({iterations} = budget_env_steps / ppo.train_batch_size): the target would not be reached"
            )
        return self

    @model_validator(mode="after")
    def _stack_supports(self) -> SweepConfig:
        if self.api_stack == "old" and self.pruning.distill_coeff > 0:
            raise ValueError(
                "pruning.distill_coeff needs api_stack: new (the old stack has no teacher)"
            )
        return self

    def points(self) -> list[TrialPoint]:
        """The grid's trials. A method without a penalty runs once at lambda = 0, one that
        does not prune once at sparsity_target = 0."""
        points = []
        for method in self.grid.method:
            lams = self.grid.lam if METHODS[method].penalty else [0.0]
            targets = self.grid.sparsity_target if METHODS[method].importance else [0.0]
            for lam, target, seed in itertools.product(lams, targets, self.grid.seed):
                points.append(TrialPoint(method, lam, target, seed))
        return points

    def _schedule_settings(self, sparsity_target: float) -> dict[str, Any]:
        p = self.pruning
        return {
            "sparsity_target": sparsity_target,
            "initial_sparsity": p.initial_sparsity,
            "start_iter": p.start_iter,
            "end_iter": p.end_iter,
            "frequency": p.frequency,
        }

    def spec_for(self, point: TrialPoint) -> PruningSpec:
        """The Learner's PruningSpec of one trial."""
        p = self.pruning
        prunes = METHODS[point.method].importance is not None
        return PruningSpec(
            method=point.method,
            lam=point.lam,
            schedule=PruningSchedule(**self._schedule_settings(point.sparsity_target))
            if prunes
            else None,
            reading=p.reading,
            scope=p.scope,
            min_neurons=p.min_neurons,
            seed=point.seed,
            weight_threshold=p.weight_threshold,
            distill_coeff=p.distill_coeff,
            lowrank_energy=p.lowrank_energy,
        )

    def network_for(self, point: TrialPoint) -> ActorCriticSpec:
        """The actor's and critic's shapes, plus what the method builds into the actor: L0's
        gates, dropout, PoPS's teacher."""
        prunes = METHODS[point.method].importance is not None
        return ActorCriticSpec(
            hidden=list(self.model.hidden),
            critic_hidden=list(self.model.critic_hidden),
            activation=self.model.activation,
            gates=self.pruning.gates if point.method == "l0" else None,
            dropout_rate=self.pruning.dropout_rate,
            distill=prunes and self.pruning.distill_coeff > 0,
        )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key.sub=value` pairs (value parsed as YAML) applied onto the raw mapping."""
    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        node = raw
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {key!r} is not a section")
        node[leaf] = yaml.safe_load(text)
    return raw


def parse_config(raw: Any) -> SweepConfig:
    if not isinstance(raw, dict):
        raise ConfigError("the sweep config must be a YAML mapping")
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(one_line(err)) from None


def load_config(path: Path, overrides: list[str] = ()) -> SweepConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a YAML mapping")
    return parse_config(apply_overrides(raw, list(overrides)))


def one_line(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "config"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}")
    return "invalid config: " + "; ".join(parts)

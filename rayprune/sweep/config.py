"""The sweep's YAML, typed and validated at the edge: unknown keys and bad values are errors."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rayprune.pruning import ACTIVATIONS, GATES, METHODS, READINGS, SCOPES


class ConfigError(ValueError):
    """A sweep configuration that cannot run; the message is one line."""


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
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
        return name


class PruningSettings(Strict):
    """The schedule of Eq. 17 in training iterations, how Eq. 18 is read, and the options of
    the baselines (each ignored by the methods it does not concern)."""

    reading: Literal[READINGS] = "rank"  # type: ignore[valid-type]
    scope: Literal[SCOPES] = "layer"  # type: ignore[valid-type]
    min_neurons: int = Field(1, ge=1)
    initial_sparsity: float = Field(0.0, ge=0, lt=1)
    start_iter: int = Field(5, ge=0)
    end_iter: int = Field(60, ge=1)
    frequency: int = Field(1, ge=1)
    weight_threshold: float = Field(1e-3, ge=0)  # l1: weights under it are removed too
    dropout_rate: float = Field(0.0, ge=0, lt=1)  # plain dropout on the actor during updates
    distill_coeff: float = Field(0.0, ge=0)  # PoPS: weight of the distillation from the teacher
    gates: Literal[GATES] = "neuron"  # type: ignore[valid-type]  # l0: one gate per neuron or weight
    lowrank_energy: float = Field(0.99, gt=0, le=1)  # l0: spectral energy the SVD keeps

    @model_validator(mode="after")
    def _window(self) -> PruningSettings:
        if self.end_iter <= self.start_iter:
            raise ValueError(f"end_iter ({self.end_iter}) must be > start_iter ({self.start_iter})")
        return self


class GridSettings(Strict):
    """The trials: method x lambda x sparsity_target x seed (see SweepConfig.points for the
    methods that ignore lambda or sparsity_target)."""

    method: list[str] = Field(default_factory=lambda: ["dsp"], min_length=1)
    lambda_: list[float] = Field(default_factory=lambda: [1e-4], alias="lambda", min_length=1)
    sparsity_target: list[float] = Field(default_factory=lambda: [0.9], min_length=1)
    seed: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("method")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method {unknown}; choose from {sorted(METHODS)}")
        return methods

    @field_validator("lambda_")
    @classmethod
    def _non_negative(cls, values: list[float]) -> list[float]:
        if any(v < 0 for v in values):
            raise ValueError(f"lambda must be >= 0, got {values}")
        return values

    @field_validator("sparsity_target")
    @classmethod
    def _in_unit_interval(cls, values: list[float]) -> list[float]:
        if any(not 0 <= v < 1 for v in values):
            raise ValueError(f"sparsity_target must be in [0, 1), got {values}")
        return values


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
    def _schedule_fits(self) -> SweepConfig:
        if not any(METHODS[m].importance for m in self.grid.method):
            return self
        iterations = -(-self.budget_env_steps // self.ppo.train_batch_size)
        if self.pruning.end_iter > iterations:
            raise ValueError(
                f"pruning.end_iter ({self.pruning.end_iter}) is past the budget's last iteration "
                f"({iterations} = budget_env_steps / ppo.train_batch_size): the target would not be reached"
            )
        if min(self.grid.sparsity_target) < self.pruning.initial_sparsity:
            raise ValueError("every grid.sparsity_target must be >= pruning.initial_sparsity")
        return self

    @model_validator(mode="after")
    def _stack_supports(self) -> SweepConfig:
        if self.api_stack == "old" and self.pruning.distill_coeff > 0:
            raise ValueError(
                "pruning.distill_coeff needs api_stack: new (the old stack has no teacher)"
            )
        return self

    def points(self) -> list[dict[str, Any]]:
        """The grid's trials. A method without a penalty runs once at lambda = 0, one that
        does not prune once at sparsity_target = 0."""
        points = []
        for method in self.grid.method:
            lams = self.grid.lambda_ if METHODS[method].penalty else [0.0]
            targets = self.grid.sparsity_target if METHODS[method].importance else [0.0]
            for lam, target, seed in itertools.product(lams, targets, self.grid.seed):
                points.append(
                    {"method": method, "lambda": lam, "sparsity_target": target, "seed": seed}
                )
        return points

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def trial_key(sweep_name: str, point: dict[str, Any]) -> str:
    """A trial's identity across retries and resumes: sweep name + its hyperparameters."""
    blob = json.dumps({"sweep": sweep_name, **point}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_name(point: dict[str, Any]) -> str:
    """method-lam...-sp...-seed..., naming lambda only for methods with a penalty and the
    sparsity only for methods that prune."""
    method = METHODS[point["method"]]
    parts = [point["method"]]
    if method.penalty:
        parts.append(f"lam{point['lambda']:g}")
    if method.importance:
        parts.append(f"sp{point['sparsity_target']:g}")
    return "-".join([*parts, f"seed{point['seed']}"])


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

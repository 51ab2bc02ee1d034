"""The sweep's YAML as types: every key, its type, default and range; unknown keys, NaN and
infinities are errors. Only the schema: reading the file (loading.py), --set (overrides.py), the
trials (grid.py), what each trial builds (specs.py) and the environment check (env_check.py)
live beside it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from rayprune.errors import SpecError
from rayprune.pruning import METHODS, Gates, Reading, Scope, check_activation
from rayprune.sweep.config import specs
from rayprune.sweep.workspace import check_name

# Where each PruningSpec field sits in the YAML, for one-line errors that name the user's key.
SPEC_KEYS = {
    "lam": "grid.lambda",
    "sparsity_target": "grid.sparsity_target",
    "method": "grid.method",
}


def _not_a_bool(value: Any) -> Any:
    # YAML reads `true` as a bool and pydantic would take it for 1: `seed: [true]` is a mistake.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_a_bool)]


class Strict(BaseModel):
    """Unknown keys, NaN and infinities are errors."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class PPOSettings(Strict):
    """PPO hyperparameters; names are RLlib's except gae_lambda (RLlib's lambda_)."""

    lr: float = Field(3e-4, gt=0, description="Adam's learning rate.")
    gamma: float = Field(0.99, gt=0, le=1, description="Discount factor.")
    gae_lambda: float = Field(
        0.95,
        ge=0,
        le=1,
        description="GAE's lambda (RLlib's `lambda_`; `lambda` is the regularizer here).",
    )
    clip_param: float = Field(0.2, gt=0, description="PPO's clip range of the policy ratio.")
    vf_clip_param: float = Field(10.0, gt=0, description="Clip range of the value loss.")
    entropy_coeff: float = Field(0.0, ge=0, description="Weight of the entropy bonus.")
    vf_loss_coeff: float = Field(0.5, ge=0, description="Weight of the value loss.")
    num_epochs: Int = Field(10, ge=1, description="SGD passes over each train batch.")
    minibatch_size: Int = Field(
        128, ge=1, description="SGD minibatch; sets most of an iteration's time (see Benchmarks)."
    )
    train_batch_size: Int = Field(2000, ge=1, description="Env steps per training iteration.")
    use_kl_loss: bool = Field(False, description="Add PPO's adaptive KL penalty to the loss.")
    grad_clip: float | None = Field(
        0.5, gt=0, description="Global-norm gradient clip (none: no clipping)."
    )


class ModelSettings(Strict):
    hidden: list[Int] = Field(
        default_factory=lambda: [128, 128],
        min_length=1,
        description="The actor's hidden layer sizes (masked and pruned).",
    )
    critic_hidden: list[Int] = Field(
        default_factory=lambda: [128, 128],
        min_length=1,
        description="The critic's hidden layer sizes (dense, shares nothing with the actor).",
    )
    activation: str = Field(
        "tanh", description="Hidden activation: tanh, relu, elu, silu or sigmoid."
    )

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

    reading: Reading = Field(
        "rank",
        description="Eq. 18's reading: `rank` removes floor(p_t n) units, `mass` a share of importance.",
    )
    scope: Scope = Field(
        "layer", description="Units ranked within each layer (`layer`) or across all (`global`)."
    )
    min_neurons: Int = Field(1, description="Neurons every hidden layer keeps at least.")
    initial_sparsity: float = Field(
        0.0, description="Eq. 17's p_i: the sparsity pruning starts from."
    )
    start_iter: Int = Field(
        5, description="Eq. 17's t_i: the training iteration pruning starts at."
    )
    end_iter: Int = Field(
        60, description="Eq. 17's t_i + N Delta_t: the iteration the target is reached at."
    )
    frequency: Int = Field(1, description="Eq. 17's Delta_t: iterations between pruning steps.")
    weight_threshold: float = Field(1e-3, description="l1: weights under it are removed too.")
    dropout_rate: float = Field(
        0.0, ge=0, lt=1, description="Plain dropout on the actor's hidden units during updates."
    )
    distill_coeff: float = Field(
        0.0, description="PoPS: weight of the distillation from the teacher (new stack)."
    )
    gates: Gates = Field("neuron", description="l0: one gate per `neuron` or per `weight`.")
    lowrank_energy: float = Field(0.99, description="l0: the spectral energy the SVD keeps.")


class GridSettings(Strict):
    """The trials: method x lambda x sparsity_target x seed (see SweepConfig.points for the
    methods that ignore lambda or sparsity_target)."""

    method: list[str] = Field(
        default_factory=lambda: ["dsp"],
        min_length=1,
        description="Methods: ppo, dsp, ssl, dropout, l1, pops, sgs, l0.",
    )
    lam: list[float] = Field(
        default_factory=lambda: [1e-4],
        alias="lambda",
        min_length=1,
        description="Regularizer weights (>= 0); methods without a penalty ignore them.",
    )
    sparsity_target: list[float] = Field(
        default_factory=lambda: [0.9],
        min_length=1,
        description="Final sparsities in [0, 1), in each method's unit (neurons or weights).",
    )
    seed: list[Int] = Field(
        default_factory=lambda: [0], min_length=1, description="Trial seeds (>= 0)."
    )

    @model_validator(mode="after")
    def _distinct(self) -> GridSettings:
        """Two equal values would make two trials of one point share its MLflow run."""
        axes = (
            ("method", self.method), ("lambda", self.lam),
            ("sparsity_target", self.sparsity_target), ("seed", self.seed),
        )  # fmt: skip
        for key, values in axes:
            repeated = [v for i, v in enumerate(values) if v in values[:i]]
            if repeated:
                raise ValueError(
                    f"{key} lists {repeated[0]!r} more than once; each grid value must be distinct"
                )
        return self

    @field_validator("seed")
    @classmethod
    def _seeds_not_negative(cls, seeds: list[int]) -> list[int]:
        if any(seed < 0 for seed in seeds):  # gymnasium's reset(seed=) and numpy refuse them
            raise ValueError("seeds must be >= 0")
        return seeds

    @field_validator("method")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method {unknown}; choose from {sorted(METHODS)}")
        return methods


class SearchSettings(Strict):
    """How the trials are chosen: every point of `grid`; Optuna's NSGA-II sampling num_samples
    points from the grid's values for the Pareto front of eval return (up) and compact weights
    (down), its first population_size at random, then bred from them; or the frontier search:
    per method of grid.method, the highest sparsity target in [sparsity_min, sparsity_max]
    whose retained return, mean over grid.seed, is >= keep (dense PPO runs on every seed as the
    reference; grid.lambda is the short list each probe tries, the best one counting)."""

    kind: Literal["grid", "optuna", "frontier"] = Field(
        "grid", description="`grid`: every point; `optuna`: NSGA-II; `frontier`: the bisection."
    )
    num_samples: Int | None = Field(
        None, ge=1, description="optuna: trials to sample (required for it; an upper bound)."
    )
    population_size: Int = Field(50, ge=2, description="optuna: NSGA-II's population.")
    seed: Int = Field(0, description="optuna: the sampler's seed.")
    keep: float = Field(
        0.95,
        gt=0,
        le=1,
        description="frontier: the retained return a probe must reach, mean over grid.seed.",
    )
    sparsity_min: float = Field(
        0.5, gt=0, lt=1, description="frontier: the lowest sparsity target searched."
    )
    sparsity_max: float = Field(
        0.99, gt=0, lt=1, description="frontier: the highest sparsity target searched."
    )
    reference: str | None = Field(
        None, description="frontier: an earlier sweep whose dense PPO trials are the reference."
    )
    # frontier: a probe trains from scratch while pruning, or starts from dense PPO's trained
    # policy of its seed and prunes while it fine-tunes for finetune_env_steps
    init: Literal["scratch", "dense"] = Field(
        "scratch",
        description="frontier: probes train from `scratch`, or start from dense PPO's policy (`dense`).",
    )
    finetune_env_steps: Int | None = Field(
        None,
        ge=1,
        description="frontier, init dense: env steps each probe fine-tunes (and prunes) for.",
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> SearchSettings:
        if self.kind == "optuna" and self.num_samples is None:
            raise ValueError("kind optuna needs num_samples (how many trials to sample)")
        if self.kind != "optuna" and self.num_samples is not None:
            raise ValueError(f"num_samples is for kind optuna; kind {self.kind} picks its trials")
        if self.kind != "frontier" and self.reference is not None:
            raise ValueError("reference is for kind frontier")
        if self.kind != "frontier" and self.init != "scratch":
            raise ValueError("init is for kind frontier")
        if (self.init == "dense") != (self.finetune_env_steps is not None):
            raise ValueError("init: dense needs finetune_env_steps, and only it takes them")
        if self.sparsity_min >= self.sparsity_max:
            raise ValueError(
                f"sparsity_min ({self.sparsity_min}) must be below sparsity_max ({self.sparsity_max})"
            )
        return self


class SchedulerSettings(Strict):
    """Early stopping: `asha` compares the trials' training episode_return_mean at rungs of
    grace_period * reduction_factor^k env steps and stops those that trail."""

    kind: Literal["none", "asha"] = Field("none", description="`none`, or `asha` early stopping.")
    grace_period: Int | None = Field(
        None, ge=1, description="asha: env steps before a trial can be stopped (required for it)."
    )
    reduction_factor: float = Field(
        4.0, gt=1, description="asha: rung spacing; the top 1/reduction_factor go on."
    )
    brackets: Int = Field(1, ge=1, description="asha: its number of brackets.")

    @model_validator(mode="after")
    def _fits_kind(self) -> SchedulerSettings:
        if self.kind == "asha" and self.grace_period is None:
            raise ValueError("kind asha needs grace_period (env steps before trials can stop)")
        if self.kind == "none" and self.grace_period is not None:
            raise ValueError("grace_period is for kind asha")
        return self


class WrapperSettings(Strict):
    """A gymnasium wrapper by import path, `module:Name`, and the keyword arguments it takes
    beside the environment."""

    path: str = Field(description="The wrapper's import path, `module:Name`.")
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments it takes beside the environment."
    )


class SweepConfig(Strict):
    """`env`: a registered id, gymnasium's `module:Id` (importing the module registers it), or
    a gymnasium.Env subclass's import path `package.module:ClassName`; made with `env_config`,
    wrapped by `wrappers` in order, under `max_episode_steps` (None: its own limit). Modules
    the environment needs on other nodes go in `py_modules` (folders or .py files, shipped by
    Ray's runtime_env)."""

    name: str = Field(description="The sweep's name: its MLflow experiment and its records.")
    env: str = Field(description="A gymnasium id, `module:Id`, or `package.module:ClassName`.")
    env_config: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments the environment is made with."
    )
    wrappers: list[WrapperSettings] = Field(
        default_factory=list, description="Gymnasium wrappers, applied in order."
    )
    max_episode_steps: Int | None = Field(
        None, ge=1, description="The time limit (none: the environment's own)."
    )
    normalize_observations: bool = Field(
        False, description="RLlib's MeanStdFilter; the exported policy applies it itself."
    )
    py_modules: list[str] = Field(
        default_factory=list,
        description="Folders or .py files shipped to every node (Ray's runtime_env).",
    )
    budget_env_steps: Int = Field(ge=1, description="Env steps per trial.")
    ppo: PPOSettings = Field(PPOSettings(), description="RLlib PPO settings.")
    model: ModelSettings = Field(ModelSettings(), description="The actor and critic networks.")
    pruning: PruningSettings = Field(
        PruningSettings(), description="The pruning schedule and the methods' options."
    )
    grid: GridSettings = Field(
        GridSettings(), description="The trials: method x lambda x sparsity_target x seed."
    )
    search: SearchSettings = Field(
        SearchSettings(), description="How trials are chosen: grid, optuna or frontier."
    )
    scheduler: SchedulerSettings = Field(
        SchedulerSettings(), description="Early stopping (ASHA), or none."
    )
    num_envs_per_env_runner: Int = Field(
        8, ge=1, description="Vectorised envs per trial (sampling dominates on CPU)."
    )
    max_concurrent_trials: Int | None = Field(
        None, ge=1, description="Trials at once (none: one per CPU)."
    )
    checkpoint_every: Int = Field(
        10, ge=1, description="Training iterations between checkpoints (and metric writes)."
    )
    max_failures: Int = Field(
        2, ge=0, description="Retries of a failed trial from its last checkpoint."
    )
    eval_episodes: Int = Field(
        20, ge=1, description="Episodes of the final evaluation of the exported policy."
    )
    api_stack: Literal["new", "old"] = Field(
        "new", description="RLlib's `new` API stack, or the `old` one (a masked ModelV2)."
    )

    @field_validator("name")
    @classmethod
    def _a_sweep_name(cls, name: str) -> str:
        return check_name(name)

    @model_validator(mode="after")
    def _specs_valid(self) -> SweepConfig:
        """Every point's PruningSpec, built as the trial will build it: its checks are the
        single source, surfacing here as one-line config errors naming the YAML key."""
        try:
            specs.check_specs(self)
        except SpecError as err:
            key = SPEC_KEYS.get(err.field, f"pruning.{err.field}") if err.field else "pruning"
            raise ValueError(f"{key}: {err}") from None
        return self

    @model_validator(mode="after")
    def _schedule_fits(self) -> SweepConfig:
        if not any(METHODS[m].importance for m in self.grid.method):
            return self
        budget, key = specs.pruning_budget(self)
        iterations = -(-budget // self.ppo.train_batch_size)
        if self.pruning.end_iter > iterations:
            raise ValueError(
                f"pruning.end_iter ({self.pruning.end_iter}) is past the budget's last iteration "
                f"({iterations} = {key} / ppo.train_batch_size): the target would not be reached"
            )
        return self

    @model_validator(mode="after")
    def _stack_starts_from_dense(self) -> SweepConfig:
        if self.search.init == "dense" and self.api_stack == "old":
            raise ValueError("search.init: dense needs api_stack: new")
        return self

    @model_validator(mode="after")
    def _stack_supports(self) -> SweepConfig:
        if self.api_stack == "old" and self.pruning.distill_coeff > 0:
            raise ValueError(
                "pruning.distill_coeff needs api_stack: new (the old stack has no teacher)"
            )
        return self

    @model_validator(mode="after")
    def _frontier_fits(self) -> SweepConfig:
        if self.search.kind != "frontier":
            return self
        if not any(METHODS[m].importance for m in self.grid.method):
            raise ValueError("search: kind frontier needs a method that prunes in grid.method")
        if self.scheduler.kind != "none":
            raise ValueError(
                "scheduler: kind frontier judges every probe by its final eval, which a trial "
                "stopped early does not have"
            )
        if "sparsity_target" in self.grid.model_fields_set:
            raise ValueError(
                "grid.sparsity_target: kind frontier searches the target itself, between "
                "search.sparsity_min and search.sparsity_max"
            )
        return self

    def dump(self) -> dict[str, Any]:
        """The config as its YAML keys, as it validates again (sweeps/NAME.json, trials)."""
        # a frontier search's grid has no sparsity_target: its default would not validate again
        frontier = self.search.kind == "frontier"
        exclude = {"grid": {"sparsity_target"}} if frontier else None
        return self.model_dump(mode="json", by_alias=True, exclude=exclude)

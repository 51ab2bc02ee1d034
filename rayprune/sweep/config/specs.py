"""What one trial builds from the config: its environment, its actor-critic's shapes, its
PruningSpec (Eq. 17's schedule included) and the env steps it trains for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rayprune import names
from rayprune.policy import EnvSpec, WrapperSpec
from rayprune.pruning import METHODS, PruningSchedule, PruningSpec
from rayprune.rllib.network import ActorCriticSpec
from rayprune.store.point import TrialPoint
from rayprune.sweep.config.grid import cells

if TYPE_CHECKING:
    from rayprune.sweep.config.schema import SweepConfig


def env_spec(cfg: SweepConfig) -> EnvSpec:
    """What builds the environment, here and in every EnvRunner."""
    return EnvSpec(
        cfg.env,
        dict(cfg.env_config),
        tuple(WrapperSpec(w.path, dict(w.kwargs)) for w in cfg.wrappers),
        cfg.max_episode_steps,
    )


def schedule_for(cfg: SweepConfig, sparsity_target: float) -> PruningSchedule:
    """Eq. 17's schedule of the pruning settings, ending at `sparsity_target` (p_f)."""
    p = cfg.pruning
    return PruningSchedule(
        sparsity_target=sparsity_target,
        initial_sparsity=p.initial_sparsity,
        start_iter=p.start_iter,
        end_iter=p.end_iter,
        frequency=p.frequency,
    )


def spec_for(cfg: SweepConfig, point: TrialPoint) -> PruningSpec:
    """The Learner's PruningSpec of one trial."""
    p = cfg.pruning
    prunes = METHODS[point.method].importance is not None
    return PruningSpec(
        method=point.method,
        lam=point.lam,
        schedule=schedule_for(cfg, point.sparsity_target) if prunes else None,
        reading=p.reading,
        scope=p.scope,
        min_neurons=p.min_neurons,
        seed=point.seed,
        weight_threshold=p.weight_threshold,
        distill_coeff=p.distill_coeff,
        lowrank_energy=p.lowrank_energy,
    )


def check_specs(cfg: SweepConfig) -> None:
    """Build the schedule at the highest target and every cell's PruningSpec, as the trials
    will: their checks raise SpecError (the seed changes nothing checked)."""
    highest = (
        cfg.search.sparsity_max if cfg.search.kind == "frontier" else max(cfg.grid.sparsity_target)
    )
    schedule_for(cfg, highest)
    for method, lam, target in cells(cfg):
        spec_for(cfg, TrialPoint(method, lam, target, cfg.grid.seed[0]))


def network_for(cfg: SweepConfig, point: TrialPoint) -> ActorCriticSpec:
    """The actor's and critic's shapes, plus what the method builds into the actor: L0's
    gates, dropout, PoPS's teacher."""
    prunes = METHODS[point.method].importance is not None
    return ActorCriticSpec(
        hidden=list(cfg.model.hidden),
        critic_hidden=list(cfg.model.critic_hidden),
        activation=cfg.model.activation,
        gates=cfg.pruning.gates if point.method == "l0" else None,
        dropout_rate=cfg.pruning.dropout_rate,
        distill=prunes and cfg.pruning.distill_coeff > 0,
    )


def pruning_budget(cfg: SweepConfig) -> tuple[int, str]:
    """The env steps a pruning trial trains for, and the key that sets them."""
    if cfg.search.init == "dense":
        return cfg.search.finetune_env_steps, "search.finetune_env_steps"
    return cfg.budget_env_steps, "budget_env_steps"


def starts_from_dense(cfg: SweepConfig, point: TrialPoint) -> bool:
    """Whether the trial starts from dense PPO's trained policy of its seed (search.init)."""
    return cfg.search.init == "dense" and point.method != names.DENSE_METHOD


def budget_for(cfg: SweepConfig, point: TrialPoint) -> int:
    """The env steps `point`'s trial trains for."""
    return pruning_budget(cfg)[0] if starts_from_dense(cfg, point) else cfg.budget_env_steps

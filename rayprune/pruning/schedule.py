"""The cubic sparsity schedule of DSP (Zhu & Gupta 2017), as pure functions of the step."""

from __future__ import annotations

from dataclasses import dataclass

from rayprune.errors import SpecError


@dataclass(frozen=True)
class PruningSchedule:
    """p_t rises from p_i at step t_i to p_f at step t_i + N * Delta_t, every Delta_t steps.

    Steps are training iterations, counted from 1 after the first one.
    """

    sparsity_target: float
    start_iter: int
    end_iter: int
    frequency: int = 1
    initial_sparsity: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity_target < 1.0:
            raise SpecError(
                f"sparsity_target must be in [0, 1), got {self.sparsity_target}", "sparsity_target"
            )
        if not 0.0 <= self.initial_sparsity <= self.sparsity_target:
            raise SpecError(
                f"initial_sparsity ({self.initial_sparsity}) must be in [0, sparsity_target "
                f"({self.sparsity_target})]",
                "initial_sparsity",
            )
        if self.start_iter < 0:
            raise SpecError(f"start_iter must be >= 0, got {self.start_iter}", "start_iter")
        if self.end_iter <= self.start_iter:
            raise SpecError(
                f"end_iter ({self.end_iter}) must be > start_iter ({self.start_iter})", "end_iter"
            )
        if self.frequency < 1:
            raise SpecError(f"frequency must be >= 1, got {self.frequency}", "frequency")


def sparsity_at(schedule: PruningSchedule, step: int) -> float:
    """Eq. 17: p_t, the sparsity the schedule asks for at step t, on its way to p_f (the field
    sparsity_target): p_t = p_f + (p_i - p_f) * (1 - (t - t_i) / (N * Delta_t))^3, held outside
    [t_i, end]."""
    p_i, p_f = schedule.initial_sparsity, schedule.sparsity_target
    if step <= schedule.start_iter:
        return p_i
    if step >= schedule.end_iter:
        return p_f
    progress = (step - schedule.start_iter) / (schedule.end_iter - schedule.start_iter)
    return p_f + (p_i - p_f) * (1.0 - progress) ** 3


def is_pruning_step(schedule: PruningSchedule, step: int) -> bool:
    """Masks are updated every Delta_t steps from t_i, and once more at the end of the window."""
    if step < schedule.start_iter or step > schedule.end_iter:
        return False
    return step == schedule.end_iter or (step - schedule.start_iter) % schedule.frequency == 0

import pytest

from rayprune.pruning import PruningSchedule, is_pruning_step, sparsity_at

SCHEDULE = PruningSchedule(sparsity_target=0.9, start_iter=10, end_iter=20, frequency=3)


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (10, 0.0), (15, 0.9 - 0.9 * 0.5**3), (18, 0.9 - 0.9 * 0.2**3), (20, 0.9), (99, 0.9)],
)
def test_cubic_schedule_values(step, expected):
    assert sparsity_at(SCHEDULE, step) == pytest.approx(expected)


def test_initial_sparsity_is_held_before_start():
    schedule = PruningSchedule(sparsity_target=0.8, initial_sparsity=0.2, start_iter=4, end_iter=8)
    assert sparsity_at(schedule, 1) == 0.2
    assert sparsity_at(schedule, 6) == pytest.approx(0.8 + (0.2 - 0.8) * 0.5**3)


def test_schedule_is_monotone():
    values = [sparsity_at(SCHEDULE, t) for t in range(30)]
    assert values == sorted(values)


def test_pruning_steps_every_delta_t_and_at_the_end():
    assert [t for t in range(30) if is_pruning_step(SCHEDULE, t)] == [10, 13, 16, 19, 20]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sparsity_target=1.0, start_iter=0, end_iter=5),
        dict(sparsity_target=-0.1, start_iter=0, end_iter=5),
        dict(sparsity_target=0.5, initial_sparsity=0.6, start_iter=0, end_iter=5),
        dict(sparsity_target=0.5, start_iter=5, end_iter=5),
        dict(sparsity_target=0.5, start_iter=0, end_iter=5, frequency=0),
    ],
)
def test_invalid_schedules_are_refused(kwargs):
    with pytest.raises(ValueError):
        PruningSchedule(**kwargs)

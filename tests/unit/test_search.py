from pathlib import Path
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.search_generator import SearchGenerator

from rayprune.errors import ConfigError
from rayprune.policy import ActionSpace, EnvSpaces
from rayprune.store.pareto import Outcome, pareto_front
from rayprune.store.point import TrialPoint
from rayprune.sweep.config import load_config, parse_config
from rayprune.sweep.config.grid import points as grid_points
from rayprune.sweep.search import BudgetASHA, PointSpace, check_search, tune_options

REPO = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "env": "CartPole-v1", "budget_env_steps": 200_000}
OPTUNA = {"kind": "optuna", "num_samples": 40, "population_size": 4}
CARTPOLE = EnvSpaces(4, ActionSpace("discrete", n=2))
GRID = {"method": ["dsp", "ppo", "dropout"], "lambda": [1e-6, 1e-3], "sparsity_target": [0.8, 0.9], "seed": [0, 1]}  # fmt: skip


def config(**patch):
    return parse_config({**BASE, **patch})


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"search": {"kind": "optuna"}}, "search: kind optuna needs num_samples"),
        ({"search": {"num_samples": 5}}, "search: num_samples is for kind optuna"),
        ({"search": {**OPTUNA, "num_samples": 0}}, "search.num_samples:"),
        ({"search": {**OPTUNA, "population_size": 1}}, "search.population_size:"),
        ({"search": {"kind": "random"}}, "search.kind:"),
        ({"search": {**OPTUNA, "sampler": "tpe"}}, "search.sampler: unknown key"),
        ({"scheduler": {"kind": "asha"}}, "scheduler: kind asha needs grace_period"),
        ({"scheduler": {"grace_period": 1000}}, "scheduler: grace_period is for kind asha"),
        (
            {"scheduler": {"kind": "asha", "grace_period": 1000, "reduction_factor": 1}},
            "scheduler.reduction_factor:",
        ),
    ],
)
def test_bad_search_or_scheduler_is_one_line_error(patch, message):
    with pytest.raises(ConfigError) as err:
        config(**patch)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_settings_that_need_the_rest_of_the_config():
    asha = {"kind": "asha", "grace_period": 200_000}
    with pytest.raises(ConfigError, match=r"grace_period \(200000\) must be < budget_env_steps"):
        check_search(config(scheduler=asha))
    check_search(config(scheduler={**asha, "grace_period": 199_999}))

    zero = {**GRID, "lambda": [0.0, 1e-3]}
    with pytest.raises(ConfigError, match="samples dsp's lambda log-uniformly .* must be > 0"):
        check_search(config(grid=zero, search=OPTUNA))
    check_search(config(grid=zero))  # a grid takes lambda 0 as it is
    check_search(config(grid={**zero, "method": ["ppo"]}, search=OPTUNA))  # no penalty: no lambda


def test_shipped_search_configs():
    for name in ("paper_grid", "cartpole_optuna", "cartpole_asha"):
        check_search(load_config(REPO / "tune_configs" / f"{name}.yaml"))
    points = grid_points(load_config(REPO / "tune_configs" / "paper_grid.yaml"))
    per_method = {m: sum(p.method == m for p in points) for m in {p.method for p in points}}
    # 6 lambdas x 4 targets x 5 seeds; no penalty: 4 x 5; ppo: 5
    assert per_method == {
        "dsp": 120, "ssl": 120, "l1": 120, "sgs": 120, "l0": 120, "dropout": 20, "pops": 20, "ppo": 5,
    }  # fmt: skip


def test_round_trip_of_the_dump_keeps_search_and_scheduler():
    cfg = config(search=OPTUNA, scheduler={"kind": "asha", "grace_period": 1000})
    assert parse_config(cfg.dump()) == cfg
    assert parse_config(config().dump()).search.kind == "grid"


def test_space_follows_the_grid_rules():
    space = PointSpace.of(config(grid=GRID, search=OPTUNA))
    assert space.choices == {
        "dsp": {"lambda": (1e-6, 1e-3), "sparsity_target": (0.8, 0.9), "seed": (0, 1)},
        "ppo": {"lambda": (0.0,), "sparsity_target": (0.0,), "seed": (0, 1)},
        "dropout": {"lambda": (0.0,), "sparsity_target": (0.8, 0.9), "seed": (0, 1)},
    }


def drive(searcher, n, prefix="trial"):
    """Up to n suggestions, each completed at once; the points."""
    points = []
    for i in range(n):
        config = searcher.suggest(f"{prefix}{i}")
        if config == Searcher.FINISHED:
            break
        points.append(config["point"])
        searcher.on_trial_complete(
            f"{prefix}{i}", {"eval_return_mean": float(i % 7), "weights_compact": float(i % 5)}
        )
    return points


def key(point):
    return tuple(sorted(point.items()))


def test_sampled_points_keep_the_rules_and_never_repeat():
    points = drive(tune_options(config(grid=GRID, search=OPTUNA), CARTPOLE, "")["search_alg"], 40)
    assert len(points) == 40 and len({key(p) for p in points}) == 40
    assert {p["method"] for p in points} == {"dsp", "ppo", "dropout"}
    for p in points:
        assert set(p) == {"method", "lambda", "sparsity_target", "seed"} and p["seed"] in (0, 1)
        if p["method"] == "dsp":
            assert 1e-6 <= p["lambda"] <= 1e-3 and p["sparsity_target"] in (0.8, 0.9)
        elif p["method"] == "dropout":
            assert p["lambda"] == 0.0 and p["sparsity_target"] in (0.8, 0.9)
        else:
            assert p["lambda"] == 0.0 and p["sparsity_target"] == 0.0

    fixed = config(grid={**GRID, "lambda": [1e-4]}, search=OPTUNA)
    points = drive(tune_options(fixed, CARTPOLE, "")["search_alg"], 10)
    assert {p["lambda"] for p in points if p["method"] == "dsp"} == {1e-4}


def test_an_exhausted_space_ends_the_search():
    grid = {**GRID, "method": ["ppo", "dropout"], "sparsity_target": [0.9]}
    points = drive(tune_options(config(grid=grid, search=OPTUNA), CARTPOLE, "")["search_alg"], 40)
    assert sorted((p["method"], p["seed"]) for p in points) == [
        ("dropout", 0), ("dropout", 1), ("ppo", 0), ("ppo", 1),
    ]  # fmt: skip


def test_searcher_state_survives_a_restore(tmp_path):
    """What Tuner.restore does with it: no point sampled before is sampled again."""
    cfg = config(grid={**GRID, "method": ["ppo", "dropout"]}, search=OPTUNA)  # 2 + 4 points
    searcher = tune_options(cfg, CARTPOLE, "")["search_alg"]
    before = drive(searcher, 3)
    running = searcher.suggest("running")["point"]  # interrupted while this trial runs
    SearchGenerator(searcher).save_to_dir(str(tmp_path), session_str="s")

    restored = tune_options(cfg, CARTPOLE, "")["search_alg"]
    SearchGenerator(restored).restore_from_dir(str(tmp_path))
    restored.on_trial_complete("running", {"eval_return_mean": 1.0, "weights_compact": 1.0})
    after = drive(restored, 20, prefix="after")
    points = {key(p) for p in [*before, running, *after]}
    assert len(after) == 2 and len(points) == 6


def test_pareto_front_of_four_points():
    point = TrialPoint("dsp", 1e-4, 0.9, 0)
    a = Outcome("a", point, 500.0, 1000.0)  # b is as good, smaller
    b = Outcome("b", point, 500.0, 135.0)
    c = Outcome("c", point, 300.0, 50.0)
    d = Outcome("d", point, 200.0, 100.0)  # c: better and smaller
    assert [o.trial for o in pareto_front([a, b, c, d])] == ["c", "b"]  # fewest weights first
    b2 = Outcome("b2", point, 500.0, 135.0)
    assert [o.trial for o in pareto_front([a, b, c, d, b2])] == ["c", "b", "b2"]
    assert pareto_front([]) == []


def test_asha_stops_a_trailing_trial_but_never_at_the_budget():
    asha = BudgetASHA(budget_env_steps=2000, grace_period=1000, reduction_factor=2)
    good, poor, late = (SimpleNamespace(trial_id=i) for i in ("good", "poor", "late"))
    for trial in (good, poor, late):
        asha.on_trial_add(None, trial)

    def result(trial, steps, ret):
        return asha.on_trial_result(None, trial, {"env_steps": steps, "episode_return_mean": ret})

    assert result(good, 1000, 50.0) == TrialScheduler.CONTINUE  # the first at the rung sets the bar
    assert result(poor, 1000, 5.0) == TrialScheduler.STOP
    assert result(good, 2000, 60.0) == TrialScheduler.CONTINUE
    # the 2000 rung is at the budget: a trial arriving there exports and evaluates, whatever it scored
    assert result(late, 2000, 1.0) == TrialScheduler.CONTINUE
    # the final result (eval metrics only) is not ASHA's to judge
    assert asha.on_trial_result(None, good, {"eval_return_mean": 9.0}) == TrialScheduler.CONTINUE

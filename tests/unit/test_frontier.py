"""The frontier search: retained return, levels, the bisection, and the searcher driven by a
synthetic task whose answer is known by hand."""

import math

import pytest
from ray.tune.search import Searcher

from rayprune.errors import ConfigError, SweepError
from rayprune.policy import ActionSpace, EnvSpaces
from rayprune.pruning import PruningSchedule, PruningSpec, unit_layers
from rayprune.store.point import TrialPoint
from rayprune.sweep.bound import bound
from rayprune.sweep.config import parse_config
from rayprune.sweep.config.specs import budget_for, starts_from_dense
from rayprune.sweep.frontier.bisection import (
    Finished,
    MethodFrontier,
    Reference,
    bisect,
    reference_of,
    retained_return,
    score_probe,
)
from rayprune.sweep.frontier.conclusion import print_frontier
from rayprune.sweep.frontier.levels import Level, sparsity_levels, thinned
from rayprune.sweep.frontier.plan import method_searches
from rayprune.sweep.frontier.searcher import FrontierSearch

BASE = {"name": "f", "env": "CartPole-v1", "budget_env_steps": 200_000}
FRONTIER = {"kind": "frontier", "keep": 0.95, "sparsity_min": 0.5, "sparsity_max": 0.99}
CARTPOLE = EnvSpaces(4, ActionSpace("discrete", n=2))


def test_retained_return_by_hand():
    # LunarLander-like: random -200, dense 250; a policy at 205 keeps (205 + 200) / 450 = 0.9
    assert retained_return(205.0, -200.0, 250.0) == pytest.approx(0.9)
    assert retained_return(-200.0, -200.0, 250.0) == 0.0
    assert retained_return(250.0, -200.0, 250.0) == 1.0


def test_a_dense_policy_no_better_than_random_is_refused():
    with pytest.raises(SweepError, match="does not beat a random policy"):
        Reference(r_dense=-500.0, r_random=-500.0)


def test_levels_are_the_distinct_neuron_counts_fewest_first():
    spec = PruningSpec("dsp", 1e-4, PruningSchedule(sparsity_target=0.9, start_iter=1, end_iter=2))
    levels = sparsity_levels(unit_layers(spec, [4, 128, 128, 2], None), 0.9, 0.99)
    # per layer 128 - floor(p * 128) neurons: 13 at 0.9 (26 in all), 2 at 126/128 (4 in all);
    # 127/128 = 0.992 is above the bound
    assert [level.kept for level in levels] == list(range(4, 27, 2))
    assert levels[0].target == 126 / 128
    assert levels[-1].target == 0.9
    assert levels[-2].target == 116 / 128  # the lowest target that keeps 12 per layer


def test_thousands_of_weight_levels_are_thinned_evenly_in_log_units():
    levels = [Level(1 - k / 1000, k) for k in range(1, 1001)]
    assert [level.kept for level in thinned(levels, 4)] == [1, 10, 100, 1000]
    assert thinned(levels[:3], 4) == levels[:3]


def run_bisection(count: int, keeps_from: int | None) -> tuple[list[int], int | None]:
    """Drive bisect() as the search does: probe, learn the verdict, replay."""
    verdicts: dict[int, bool] = {}
    probed = []
    while True:
        step = bisect(count, verdicts.get)
        if step.probe is None:
            return probed, step.found
        probed.append(step.probe)
        verdicts[step.probe] = keeps_from is not None and step.probe >= keeps_from


def test_bisection_finds_the_fewest_units_that_keep():
    assert run_bisection(10, 3) == ([5, 2, 4, 3], 3)
    assert run_bisection(10, 0) == ([5, 2, 1, 0], 0)
    assert run_bisection(10, None) == ([5, 8, 9], None)
    assert run_bisection(1, 0) == ([0], 0)


def test_an_unfinished_bisection_reports_the_sparsest_level_known_to_keep():
    # 10 levels: the first probe is level 5; once it keeps, level 2 is next and 5 is the answer
    # so far; once it fails, level 8 is next and nothing is known to keep
    assert bisect(10, {}.get) == (5, None)
    assert bisect(10, {5: True}.get) == (2, 5)
    assert bisect(10, {5: True, 2: False}.get) == (4, 5)
    assert bisect(10, {5: False}.get) == (8, None)


def finished(method, lam, target, seed, ret, kept=10.0):
    return Finished(TrialPoint(method, lam, target, seed), ret, kept)


def test_a_probe_is_scored_at_its_best_lambda_once_every_trial_finished():
    ref = Reference(r_dense=500.0, r_random=20.0)
    trials = [
        finished("dsp", 1e-4, 0.9, 0, 500.0),
        finished("dsp", 1e-4, 0.9, 1, 260.0),  # retained 0.5
        finished("dsp", 1e-3, 0.9, 0, 404.0),  # retained 0.8
    ]
    assert score_probe(trials, [0, 1], [1e-4, 1e-3], ref) is None  # lambda 1e-3 seed 1 runs
    trials.append(finished("dsp", 1e-3, 0.9, 1, 452.0, kept=12.0))  # retained 0.9
    score = score_probe(trials, [0, 1], [1e-4, 1e-3], ref)
    assert score.lam == 1e-3
    assert score.retained_mean == pytest.approx(0.85)
    assert score.retained_std == pytest.approx(0.05)
    assert score.kept == 11.0
    failed = [finished("dsp", 1e-4, 0.9, 0, 500.0), finished("dsp", 1e-4, 0.9, 1, None)]
    assert score_probe(failed, [0, 1], [1e-4], ref).retained_mean == -math.inf


def test_the_reference_waits_for_every_seed_and_names_a_failed_one():
    dense = [finished("ppo", 0.0, 0.0, 0, 480.0)]
    assert reference_of(dense, [0, 1], 20.0) is None
    assert reference_of([*dense, finished("ppo", 0.0, 0.0, 1, 500.0)], [0, 1], 20.0).r_dense == 490
    with pytest.raises(SweepError, match="seed 1 ended without an eval return"):
        reference_of([*dense, finished("ppo", 0.0, 0.0, 1, None)], [0, 1], 20.0)


def frontier_config(**patch):
    grid = {"method": ["dsp", "ssl"], "lambda": [1e-4], "seed": [0, 1]}
    return parse_config(
        {**BASE, "model": {"hidden": [16, 16]}, "grid": grid, "search": FRONTIER, **patch}
    )


def play(searcher: FrontierSearch, returns, limit=100) -> list[TrialPoint]:
    """Run the searcher to its end as Tune would with two trials at a time; `returns(point)`
    is the trial's eval return. Returns the points in the order they were suggested."""
    running, order = [], []
    for n in range(limit):
        while len(running) < 2:
            suggestion = searcher.suggest(f"t{n}_{len(order)}")
            if suggestion is None or suggestion == Searcher.FINISHED:
                break
            point = TrialPoint.from_params(suggestion["point"])
            order.append(point)
            running.append((f"t{n}_{len(order) - 1}", point))
        if suggestion == Searcher.FINISHED:
            return order
        trial_id, point = running.pop(0)
        kept = 32.0 if point.method == "ppo" else 32 - 2 * math.floor(point.sparsity_target * 16)
        searcher.on_trial_complete(
            trial_id, {"eval_return_mean": returns(point), "neurons_compact": kept}
        )
    raise AssertionError("the search did not finish")


def keeps_from_ten_neurons(point: TrialPoint) -> float:
    """Dense 500, random 20 (below): a policy of >= 10 neurons keeps all of it, fewer half."""
    if point.method == "ppo":
        return 500.0
    kept = 32 - 2 * math.floor(point.sparsity_target * 16)
    return 500.0 if kept >= 10 else 260.0


def test_the_searcher_runs_dense_first_then_bisects_each_method_to_its_answer(tmp_path):
    cfg = frontier_config()
    searches = method_searches(cfg, CARTPOLE)
    # [16, 16] between 0.5 and 0.99: 1 (15/16 = 0.94) to 8 neurons per layer, 8 levels
    assert [level.kept for level in searches[0].levels] == [2, 4, 6, 8, 10, 12, 14, 16]
    searcher = FrontierSearch(searches, [0, 1], r_random=20.0, keep=0.95)
    order = play(searcher, keeps_from_ten_neurons)
    assert [(p.method, p.seed) for p in order[:2]] == [("ppo", 0), ("ppo", 1)]
    # level 4 (10 neurons) keeps, level 3 (8) does not: probes 4, 2, 3 per method, two seeds each
    dsp = [p for p in order if p.method == "dsp"]
    kept = [32 - 2 * math.floor(p.sparsity_target * 16) for p in dsp]
    assert kept == [10, 10, 6, 6, 8, 8]
    assert len(order) == 2 + 2 * 6 and len(set(order)) == len(order)


def test_a_restored_searcher_continues_without_repeating_a_probe(tmp_path):
    cfg = frontier_config(grid={"method": ["dsp"], "lambda": [1e-4], "seed": [0]})
    searches = method_searches(cfg, CARTPOLE)
    first = FrontierSearch(searches, [0], r_random=20.0, keep=0.95)
    done = []
    for trial_id in ("a", "b"):  # dense and the first probe, both finished
        point = TrialPoint.from_params(first.suggest(trial_id)["point"])
        done.append(point)
        first.on_trial_complete(trial_id, {"eval_return_mean": keeps_from_ten_neurons(point)})
    first.save(str(tmp_path / "state.json"))

    second = FrontierSearch(searches, [0], r_random=20.0, keep=0.95)
    second.restore(str(tmp_path / "state.json"))
    rest = play(second, keeps_from_ten_neurons)
    assert not set(rest) & set(done)
    assert len(done) + len(rest) == 1 + 3


def test_an_earlier_sweeps_dense_trials_stand_in_for_the_reference():
    cfg = frontier_config(grid={"method": ["dsp"], "lambda": [1e-4], "seed": [0, 1]})
    given = [finished("ppo", 0.0, 0.0, seed, 500.0) for seed in (0, 1)]
    searcher = FrontierSearch(method_searches(cfg, CARTPOLE), [0, 1], 20.0, 0.95, given)
    order = play(searcher, keeps_from_ten_neurons)
    assert all(p.method == "dsp" for p in order) and len(order) == 3 * 2


def test_probes_that_start_from_dense_ppo_wait_for_every_seeds_policy():
    searches = method_searches(frontier_config(), CARTPOLE)
    searcher = FrontierSearch(searches, [0, 1], 20.0, 0.95, from_dense=True)
    first = [TrialPoint.from_params(searcher.suggest(t)["point"]) for t in ("a", "b")]
    assert [(p.method, p.seed) for p in first] == [("ppo", 0), ("ppo", 1)]
    searcher.on_trial_complete("a", {"eval_return_mean": 500.0, "neurons_compact": 32.0})
    assert searcher.suggest("c") is None  # seed 1's dense PPO still trains
    searcher.on_trial_complete("b", {"eval_return_mean": 500.0, "neurons_compact": 32.0})
    assert TrialPoint.from_params(searcher.suggest("c")["point"]).method == "dsp"
    # from scratch, a probe runs beside dense PPO
    scratch = FrontierSearch(searches, [0, 1], 20.0, 0.95)
    assert [TrialPoint.from_params(scratch.suggest(t)["point"]).method for t in "abc"] == [
        "ppo",
        "ppo",
        "dsp",
    ]


def test_probes_from_dense_ppo_train_for_the_fine_tuning_budget_only():
    cfg = frontier_config(
        search={**FRONTIER, "init": "dense", "finetune_env_steps": 20_000},
        pruning={"start_iter": 1, "end_iter": 10},
    )
    dense, probe = TrialPoint("ppo", 0.0, 0.0, 0), TrialPoint("dsp", 1e-4, 0.75, 0)
    assert (budget_for(cfg, dense), budget_for(cfg, probe)) == (200_000, 20_000)
    assert starts_from_dense(cfg, probe) and not starts_from_dense(cfg, dense)
    # 2 seeds of dense PPO at 200k, then at most 4 probes (8 levels) x 2 methods x 2 seeds at 20k
    assert bound(cfg, CARTPOLE) == (2 + 16, 2 * 200_000 + 16 * 20_000)
    assert bound(frontier_config(), CARTPOLE) == (18, 18 * 200_000)
    reference = {**FRONTIER, "reference": "earlier"}  # its dense PPO trained already
    assert bound(frontier_config(search=reference), CARTPOLE) == (16, 16 * 200_000)


def test_a_failed_dense_trial_ends_the_search():
    searcher = FrontierSearch(method_searches(frontier_config(), CARTPOLE), [0], 20.0, 0.95)
    searcher.suggest("a")
    searcher.on_trial_complete("a", error=True)
    assert searcher.suggest("b") == Searcher.FINISHED
    assert "seed 0 ended without an eval return" in searcher.failure


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"grid": {"method": ["ppo"]}}, "kind frontier needs a method that prunes"),
        (
            {"grid": {"method": ["dsp"], "sparsity_target": [0.9]}},
            "grid.sparsity_target: kind frontier searches the target itself",
        ),
        ({"search": {**FRONTIER, "sparsity_min": 0.9, "sparsity_max": 0.8}}, "must be below"),
        ({"search": {**FRONTIER, "keep": 1.5}}, "search.keep:"),
        (
            {"scheduler": {"kind": "asha", "grace_period": 1000}},
            "a trial stopped early does not have",
        ),
        ({"search": {**FRONTIER, "init": "dense"}}, "init: dense needs finetune_env_steps"),
        ({"search": {**FRONTIER, "finetune_env_steps": 10_000}}, "and only it takes them"),
        ({"search": {"init": "dense", "finetune_env_steps": 10_000}}, "init is for kind frontier"),
        (
            {
                "search": {**FRONTIER, "init": "dense", "finetune_env_steps": 20_000},
                "ppo": {"train_batch_size": 2000},
                "pruning": {"start_iter": 1, "end_iter": 12},
            },
            "(10 = search.finetune_env_steps / ppo.train_batch_size)",
        ),
        (
            {
                "search": {**FRONTIER, "init": "dense", "finetune_env_steps": 10_000},
                "pruning": {"start_iter": 1, "end_iter": 5},
                "api_stack": "old",
            },
            "search.init: dense needs api_stack: new",
        ),
    ],
)
def test_bad_frontier_settings_are_one_line_errors(patch, message):
    with pytest.raises(ConfigError, match="invalid config") as err:
        parse_config({**BASE, "search": FRONTIER, **patch})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("complete", "says"),
    [(True, "none within the bounds keeps it"), (False, "none keeps it yet")],
)
def test_a_method_without_an_answer_says_whether_its_search_ended(capsys, complete, says):
    nothing = MethodFrontier("dsp", "neurons", None, [], complete)
    print_frontier([nothing], Reference(r_dense=500.0, r_random=20.0), keep=0.95, seeds=2)
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("dsp") and says in row
    assert row.endswith("(search unfinished)") != complete

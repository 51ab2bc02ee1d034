"""One tie rule for `rayprune best` and the report (store.ranking), worked by hand on the issue's
case: six DSP trials at 500.0 with 135 weights, and dense PPO at 500.0 with 17,152."""

import math

import pytest
from mlflow.entities import Metric, Param

from rayprune.report.aggregate import cells, lambda_picks, trial_pick
from rayprune.report.data import Trial, load_sweep
from rayprune.store.best import choose_best, log_ranks
from rayprune.store.point import TrialPoint
from rayprune.store.ranking import RULE, Standing, pick
from rayprune.store.tracking import client_for, create_experiment
from rayprune.store.views import view_state

# (lambda, seed) -> final training return; eval return 500.0 and 135 weights for all six
TRAINING = {
    (1e-5, 0): 498.0, (1e-5, 1): 500.0,
    (1e-4, 0): 500.0, (1e-4, 1): 497.0,
    (1e-3, 0): 499.0, (1e-3, 1): 500.0,
}  # fmt: skip


def six_and_dense() -> list[Trial]:
    trials = [
        Trial(
            f"dsp-{lam}-{seed}",
            f"dsp l{lam:g} s0.93 #{seed}",
            TrialPoint("dsp", lam, 0.93, seed),
            {
                "eval_return_mean": 500.0,
                "weights_compact": 135.0,
                "episode_return_mean": ret,
                "target_reached": 1.0,
            },
        )  # fmt: skip
        for (lam, seed), ret in TRAINING.items()
    ]
    dense = Trial(
        "ppo-0",
        "ppo #0",
        TrialPoint("ppo", 0.0, 0.0, 0),
        {"eval_return_mean": 500.0, "weights_compact": 17152.0, "episode_return_mean": 500.0,
         "target_reached": 1.0},
    )  # fmt: skip
    return [dense, *trials]


def test_the_rule_reads_in_its_order():
    assert RULE == (
        "highest eval return, then fewest weights, then highest final training return, "
        "then lowest lambda, then lowest seed"
    )


def test_best_trial_by_hand_and_what_broke_the_tie():
    """All seven tie at 500; 135 weights leaves the six DSP trials; a final training return of
    500 leaves (1e-5, 1), (1e-4, 0), (1e-3, 1); the lowest lambda leaves (1e-5, 1)."""
    chosen = trial_pick(six_and_dense())
    assert (chosen.chosen.lam, chosen.chosen.seed) == (1e-5, 1)
    assert chosen.left == (7, 6, 3, 1, 1) and chosen.tied == 7
    assert chosen.decided_by == "lowest lambda"
    assert chosen.tie_note() == (
        "7 tied on highest eval return; fewest weights left 6, highest final training return "
        "left 3, lowest lambda left 1"
    )


def test_best_lambda_by_the_same_rule_on_the_means_over_seeds():
    """Mean final training return: 1e-5 499.0, 1e-4 498.5, 1e-3 499.5, so 1e-3; dense PPO
    is its own cell."""
    picks = lambda_picks(cells(six_and_dense()))
    assert [(p.chosen.method, p.chosen.lam) for p in picks] == [("ppo", 0.0), ("dsp", 1e-3)]
    dsp = picks[1]
    assert dsp.left[:3] == (3, 3, 1) and dsp.decided_by == "highest final training return"
    assert dsp.tie_note() == (
        "3 tied on highest eval return; fewest weights left 3, highest final training return left 1"
    )


def test_missing_values_rank_last_and_no_tie_says_nothing():
    good = Standing(400.0, 10.0, 1.0, 1e-4, 0)
    nan = Standing(math.nan, 1.0, 500.0, 0.0, 0)
    chosen = pick(["nan", "good"], {"nan": nan, "good": good}.get)
    assert chosen.chosen == "good" and chosen.tied == 1
    assert chosen.decided_by is None and chosen.tie_note() is None
    fewer_weights = Standing(400.0, math.nan, 1.0, 1e-4, 0)
    assert pick([fewer_weights, good], lambda s: s).chosen is good  # NaN weights: the most
    with pytest.raises(ValueError):
        pick([], lambda s: s)


def six_and_dense_store(tmp_path):
    """The seven trials as FINISHED runs of sweep "six" in a SQLite store: (uri, client)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = create_experiment(uri, "six", (tmp_path / "art").as_uri())
    client = client_for(uri)
    for trial in six_and_dense():
        run = client.create_run(
            experiment, run_name=trial.name, tags={"rayprune.trial_key": trial.run_id}
        ).info.run_id
        params = {**trial.point.to_params(), "env": "CartPole-v1"}
        curve = [Metric("train/episode_return_mean", trial.metrics["episode_return_mean"], 0, 3)]
        finals = [
            Metric(k, v, 0, 0) for k, v in trial.metrics.items() if k != "episode_return_mean"
        ]
        # the run's sparsity, as the learner logs it: what --min-sparsity reads
        sparsity = [Metric("train/sparsity", trial.point.sparsity_target, 0, 3)]
        client.log_batch(
            run,
            metrics=curve + finals + sparsity,
            params=[Param(k, str(v)) for k, v in params.items()],
        )
        client.set_terminated(run, "FINISHED")
    return uri, client


def test_best_and_the_report_pick_the_same_run_from_one_store(tmp_path):
    """The same runs read by `rayprune best` (store.best) and by the report (report.data):
    one choice, one tie note."""
    uri, client = six_and_dense_store(tmp_path)
    best = choose_best(uri, "six")
    report = trial_pick(load_sweep(client, "six").trials)
    assert best.run_name == report.chosen.name == "dsp l1e-05 s0.93 #1"
    assert best.tied == 7 and best.tie_note == report.tie_note("highest eval_return_mean")
    only_pruned = choose_best(uri, "six", min_sparsity=0.9)
    assert only_pruned.run_id == best.run_id and only_pruned.tied == 6


def test_the_views_order_is_bests_rule(tmp_path):
    """The saved view sorts by the metric `rank`. By hand: all seven at 500; 135 weights puts
    the six DSP trials before dense PPO; final training return 500 ((1e-5, 1), (1e-4, 0),
    (1e-3, 1): then by lambda), 499 (1e-3, 0), 498 (1e-5, 0), 497 (1e-4, 1); dense PPO last."""
    uri, client = six_and_dense_store(tmp_path)
    log_ranks(uri, "six")
    experiment = client.get_experiment_by_name("six").experiment_id
    state = view_state()
    direction = "ASC" if state["orderByAsc"] else "DESC"
    runs = client.search_runs([experiment], order_by=[f"{state['orderByKey']} {direction}"])
    assert [r.info.run_name for r in runs] == [
        "dsp l1e-05 s0.93 #1", "dsp l0.0001 s0.93 #0", "dsp l0.001 s0.93 #1",
        "dsp l0.001 s0.93 #0", "dsp l1e-05 s0.93 #0", "dsp l0.0001 s0.93 #1", "ppo #0",
    ]  # fmt: skip
    assert [r.data.metrics["rank"] for r in runs] == [1, 2, 3, 4, 5, 6, 7]
    assert runs[0].info.run_id == choose_best(uri, "six").run_id

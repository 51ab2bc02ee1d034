"""`rayprune sweep` beyond the grid, end to end: Optuna's NSGA-II and its Pareto front, ASHA."""

import json
from pathlib import Path

import pytest

from rayprune.store.pareto import Outcome, pareto_front
from rayprune.store.point import TrialPoint
from tests.cli import rayprune
from tests.integration.sweeps import TINY, assert_iterations, curve_steps, runs_of, write_config

pytestmark = pytest.mark.integration


def test_optuna_sweep_prints_and_logs_the_pareto_front(tmp_path):
    config = write_config(
        tmp_path, name="nsga",
        grid={"method": ["dsp", "ppo"], "lambda": [1e-5, 1e-3], "sparsity_target": [0.5], "seed": [0]},
        search={"kind": "optuna", "num_samples": 4, "population_size": 2, "seed": 0},
    )  # fmt: skip
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "up to 4 trials sampled by Optuna NSGA-II" in proc.stdout
    assert "Pareto front (eval_return_mean up, weights_compact down)" in proc.stdout

    client, trials = runs_of(tmp_path / "rayprune_results", "nsga")
    experiment = client.get_experiment_by_name("nsga").experiment_id
    (summary,) = client.search_runs(
        [experiment], filter_string="tags.`rayprune.summary` = 'pareto_front'"
    )
    # one run per trial, each its own point, sampled by the grid's rules
    assert len(trials) == 4 and len({r.data.tags["rayprune.trial_key"] for r in trials}) == 4
    for run in trials:
        assert run.info.status == "FINISHED" and "eval_return_mean" in run.data.metrics
        params = run.data.params
        if params["method"] == "ppo":
            assert params["lambda"] == "0.0" and params["sparsity_target"] == "0.0"
        else:
            assert 1e-5 <= float(params["lambda"]) <= 1e-3 and params["sparsity_target"] == "0.5"

    assert summary.info.run_name == "pareto_front" and summary.info.status == "FINISHED"
    assert summary.data.tags["rayprune.summary"] == "pareto_front"
    path = client.download_artifacts(summary.info.run_id, "pareto_front.json", tmp_path)
    logged = json.loads(Path(path).read_text())
    outcomes = [
        Outcome(r.info.run_name, TrialPoint.from_params(r.data.params),
                r.data.metrics["eval_return_mean"], r.data.metrics["weights_compact"])
        for r in trials
    ]  # fmt: skip
    assert sorted(r["trial"] for r in logged) == sorted(o.trial for o in pareto_front(outcomes))
    assert {"method", "lambda", "sparsity_target", "seed"} <= set(logged[0])
    for row in logged:
        assert row["trial"] in proc.stdout.split("Pareto front")[1]
    files = {a.path for a in client.list_artifacts(summary.info.run_id)}
    assert files == {"pareto_front.json", "pareto_front.csv"}

    # `best` takes a trial's policy, never the summary run
    proc = rayprune("best", "nsga", "--out", "best", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "best" / "compression.json").read_text())
    assert info["method"] in ("dsp", "ppo")


def test_asha_stops_the_trailing_trial_and_leaves_nothing_running(tmp_path):
    config = write_config(
        tmp_path, name="asha", env="tests.integration.seeded_env:SeededCartPole-v0",
        grid={**TINY["grid"], "method": ["dsp"], "seed": [0, 100]},  # seed 100 earns 1/100
        scheduler={"kind": "asha", "grace_period": 1000, "reduction_factor": 2},
        max_concurrent_trials=1,  # seed 0 sets the bar at the 1000-step rung first
    )  # fmt: skip
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "stopped early by ASHA from 1000 env steps" in proc.stdout
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("dsp l1e-4 s0.5 #100 ")]
    assert "STOPPED" in line

    client, runs = runs_of(tmp_path / "rayprune_results", "asha")
    by_name = {r.info.run_name: r for r in runs}
    assert set(by_name) == {"dsp l1e-4 s0.5 #0", "dsp l1e-4 s0.5 #100"}
    finished, stopped = by_name["dsp l1e-4 s0.5 #0"], by_name["dsp l1e-4 s0.5 #100"]
    assert finished.info.status == "FINISHED" and "rayprune.stopped_early" not in finished.data.tags
    assert stopped.info.status == "KILLED", stopped.info.status
    assert stopped.data.tags["rayprune.stopped_early"] == "true"
    assert "eval_return_mean" not in stopped.data.metrics
    assert client.list_artifacts(stopped.info.run_id) == []  # no compact policy
    # stopped at the rung, iteration 2 of 4
    assert_iterations(curve_steps(client, stopped.info.run_id), 2)

    proc = rayprune("best", "asha", "--out", "best", cwd=tmp_path)
    assert proc.returncode == 0 and "dsp l1e-4 s0.5 #0 " in proc.stdout, proc.stderr

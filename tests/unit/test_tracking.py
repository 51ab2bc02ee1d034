"""A trial's MLflow run across attempts (a real SQLite store; no Ray)."""

from rayprune.store.tracking import TRIAL_KEY_TAG, TrialRun, client_for, create_experiment

PARAMS = {"method": "dsp", "lambda": 1e-4}


def test_a_reopened_run_keeps_its_curve_and_gets_params_an_attempt_never_logged(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = create_experiment(uri, "s", (tmp_path / "artifacts").as_uri())
    client = client_for(uri)
    # the first attempt died after creating its run, before logging anything else
    orphan = client.create_run(experiment, tags={TRIAL_KEY_TAG: "k"}).info.run_id

    first = TrialRun.open(uri, "s", "k", "dsp-run", PARAMS)
    assert first.run_id == orphan and first.logged_through == 0
    first.log_curve([(1, row(500, 10.0)), (2, row(1000, 20.0))])

    second = TrialRun.open(
        uri, "s", "k", "dsp-run", PARAMS
    )  # a retry from iteration 1's checkpoint
    assert second.run_id == orphan and second.logged_through == 2
    # iteration 2 again, a few env steps apart (RLlib's rollouts split anew): skipped
    second.log_curve([(2, row(1002, 21.0)), (3, row(1502, 30.0))])

    history = client.get_metric_history(orphan, "train/episode_return_mean")
    assert [(m.step, m.value) for m in history] == [(500, 10.0), (1000, 20.0), (1502, 30.0)]
    assert client.get_run(orphan).data.params == {"method": "dsp", "lambda": "0.0001"}


def row(env_steps: int, episode_return: float) -> dict[str, float]:
    return {"env_steps": float(env_steps), "episode_return_mean": episode_return}


def test_curves_are_logged_against_env_steps_and_final_values_at_step_0(tmp_path):
    """The run page plots a curve against its step and draws a metric with one value as a bar;
    the view charts a metric that never passed step 0 as a bar: env steps are the step, never a
    metric of their own (a chart of them would plot them against themselves)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    create_experiment(uri, "s", (tmp_path / "artifacts").as_uri())
    client = client_for(uri)
    fresh = TrialRun.open(uri, "s", "new", "dsp l1e-4 s0.5 #1", PARAMS, "another")
    fresh.log_curve([(1, row(2000, 15.0)), (2, row(4000, 25.0))])
    fresh.log_final({"eval_return_mean": 9.0})
    assert set(client.get_run(fresh.run_id).data.metrics) == {
        "train/episode_return_mean",
        "eval_return_mean",
    }
    curve = client.get_metric_history(fresh.run_id, "train/episode_return_mean")
    assert [m.step for m in curve] == [2000, 4000]
    final = client.get_metric_history(fresh.run_id, "eval_return_mean")
    assert [(m.step, m.value) for m in final] == [(0, 9.0)]
    assert client.get_run(fresh.run_id).info.run_name == "dsp l1e-4 s0.5 #1"
    assert client.get_run(fresh.run_id).data.tags["mlflow.note.content"] == "another"

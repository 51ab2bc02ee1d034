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
    first.log_curve([(1, {"env_steps": 500.0}), (2, {"env_steps": 1000.0})])

    second = TrialRun.open(uri, "s", "k", "dsp-run", PARAMS)  # a retry from the step-1 checkpoint
    assert second.run_id == orphan and second.logged_through == 2
    second.log_curve([(2, {"env_steps": 1001.0}), (3, {"env_steps": 1500.0})])

    history = client.get_metric_history(orphan, "train/env_steps")
    assert [(m.step, m.value) for m in history] == [(1, 500.0), (2, 1000.0), (3, 1500.0)]
    assert client.get_run(orphan).data.params == {"method": "dsp", "lambda": "0.0001"}


def test_curves_carry_the_train_prefix_and_final_values_do_not(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    create_experiment(uri, "s", (tmp_path / "artifacts").as_uri())
    client = client_for(uri)
    fresh = TrialRun.open(uri, "s", "new", "dsp l1e-4 s0.5 #1", PARAMS, "another")
    fresh.log_curve([(1, {"env_steps": 500.0})])
    fresh.log_steps([(1, {"eval_return_mean": 9.0})])
    assert set(client.get_run(fresh.run_id).data.metrics) == {"train/env_steps", "eval_return_mean"}
    assert client.get_run(fresh.run_id).info.run_name == "dsp l1e-4 s0.5 #1"
    assert client.get_run(fresh.run_id).data.tags["mlflow.note.content"] == "another"

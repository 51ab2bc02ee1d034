"""The product end to end: `rayprune sweep`, then MLflow, `best`, `eval`, `resume`, bad input.

Each command runs as a real process; a sweep's own `ray.shutdown()` stops the local Ray it
started, so nothing else on the machine is touched.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from rayprune.policy import OnnxPolicy
from rayprune.store.tracking import TRIAL_KEY_TAG
from tests.cli import one_line_error, rayprune
from tests.integration.processes import MlflowServer, RaypruneUi, free_port, stop_group, wait_for
from tests.integration.sweeps import (
    METRICS,
    TINY,
    assert_iterations,
    curve_steps,
    finished_runs,
    runs_of,
    write_config,
)

pytestmark = pytest.mark.integration

POLICY_FILES = ("policy.onnx", "policy.safetensors", "compression.json", "MLmodel", "model.onnx")


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    proc = rayprune("sweep", write_config(folder), cwd=folder)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder, proc


def test_sweep_leaves_one_finished_run_per_trial_with_curves(finished_sweep):
    folder, proc = finished_sweep
    assert "rayprune_results" in proc.stdout and "rayprune best tiny" in proc.stdout
    report = folder / "rayprune_results" / "reports" / "tiny" / "report.html"
    assert f"report:       {report}" in proc.stdout and report.is_file()  # written at the end
    client, runs = runs_of(folder / "rayprune_results", "tiny")
    assert sorted(r.info.run_name for r in runs) == ["dsp l1e-4 s0.5 #0", "ppo #0"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert METRICS <= set(run.data.metrics)
        assert run.data.params["ppo.train_batch_size"] == "500"
        assert_iterations(curve_steps(client, run.info.run_id), 4)
        files = {a.path for a in client.list_artifacts(run.info.run_id, "compact_policy")}
        assert {f"compact_policy/{n}" for n in POLICY_FILES} <= files  # an MLflow Model too
        assert run.data.tags["mlflow.note.content"].startswith("Trial of sweep 'tiny'")
        assert "search.population_size" not in run.data.params  # a grid: no NSGA-II settings
    dsp = next(r for r in runs if r.info.run_name.startswith("dsp"))
    neurons = [m.value for m in client.get_metric_history(dsp.info.run_id, "train/neurons")]
    assert neurons[0] == 32 and neurons[-1] == 16  # pruned to sparsity 0.5 while training
    assert dsp.data.params["lambda"] == "0.0001" and dsp.data.metrics["target_reached"] == 1.0


def test_best_registers_and_downloads_then_eval_runs_it(finished_sweep):
    folder, _ = finished_sweep
    proc = rayprune("best", "tiny", "--out", "best_policy", "--min-sparsity", "0.4", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "dsp l1e-4 s0.5 #0" in proc.stdout  # the only run at sparsity >= 0.4
    assert "version 1 (a new version); alias best set" in proc.stdout
    info = json.loads((folder / "best_policy" / "compression.json").read_text())
    assert info["hidden_compact"] == [8, 8] and info["method"] == "dsp"
    assert (folder / "best_policy" / "MLmodel").is_file()  # the download is the MLflow Model
    client = MlflowClient(f"sqlite:///{folder / 'rayprune_results' / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias("rayprune-tiny", "best").version) == "1"

    again = rayprune("best", "tiny", "--out", "again", "--min-sparsity", "0.4", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert "version 1 (registered already, nothing added); alias best unchanged" in again.stdout
    assert len(client.search_model_versions("name = 'rayprune-tiny'")) == 1

    proc = rayprune("eval", folder / "best_policy", "--episodes", "3", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "over 3 episodes on CartPole-v1" in proc.stdout and "hidden [8, 8]" in proc.stdout

    mismatch = rayprune("eval", folder / "best_policy", "--env", "Pendulum-v1", cwd=folder)
    one_line_error(mismatch, "does not fit a policy trained on CartPole-v1")

    again = rayprune("best", "tiny", "--out", "best_policy", cwd=folder)
    one_line_error(again, "refusing to overwrite")
    assert json.loads((folder / "best_policy" / "compression.json").read_text()) == info


def test_resume_of_a_finished_sweep_reruns_nothing(finished_sweep):
    folder, _ = finished_sweep
    _, before = runs_of(folder / "rayprune_results", "tiny")
    proc = rayprune("resume", "tiny", cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, after = runs_of(folder / "rayprune_results", "tiny")
    assert {r.info.run_id: r.info.end_time for r in after} == {
        r.info.run_id: r.info.end_time for r in before
    }


def test_bad_input_fails_in_one_line_and_destroys_nothing(finished_sweep, tmp_path):
    folder, _ = finished_sweep
    results = folder / "rayprune_results"
    _, before = runs_of(results, "tiny")
    one_line_error(rayprune("sweep", write_config(tmp_path), cwd=folder), "exists")
    _, after = runs_of(results, "tiny")
    assert [(r.info.run_id, r.info.status) for r in after] == [
        (r.info.run_id, r.info.status) for r in before
    ]

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    cases = [
        (
            ("sweep", write_config(tmp_path, name="a", learning_rate=1)),
            "learning_rate: unknown key",
        ),
        (
            ("sweep", write_config(tmp_path, name="b"), "--set", "grid.lambda=[-1]"),
            "lambda must be >= 0",
        ),
        (
            ("sweep", write_config(tmp_path, name="c"), "--set", "grid.sparsity_target=[1.5]"),
            "[0, 1)",
        ),
        (("sweep", write_config(tmp_path, name="d", env="NoSuchEnv-v0")), "unknown environment"),
        (
            ("sweep", write_config(tmp_path, name="e"), "--address", f"127.0.0.1:{free_port()}"),
            "no Ray cluster answers",
        ),
        (
            (
                "sweep",
                write_config(tmp_path, name="f"),
                "--tracking-uri",
                f"http://127.0.0.1:{free_port()}",
            ),
            "does not answer",
        ),
        (
            (
                "sweep",
                tmp_path / "tiny.yaml",
                "--tracking-uri",
                f"sqlite:///{results / 'mlflow.db'}",
            ),
            "MLflow experiment 'tiny' already exists",
        ),
        (("resume", "missing"), "no sweep named 'missing'"),
        (("best", "missing", "--out", "x"), "no sweep named 'missing'"),
        (("eval", tmp_path), "compression.json is missing"),
    ]
    for args, fragment in cases:
        one_line_error(rayprune(*args, cwd=fresh), fragment)
    assert list(fresh.iterdir()) == []  # nothing was created


def test_crashed_trial_is_retried_from_its_checkpoint(tmp_path):
    marker = tmp_path / "failed-once"
    config = write_config(
        tmp_path, name="flaky", env="tests.integration.flaky_env:FlakyCartPole-v0",
        grid={"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    )  # fmt: skip
    proc = rayprune("sweep", config, cwd=tmp_path, env={"RAYPRUNE_TEST_FLAKY_MARKER": str(marker)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker.exists()  # the trial really crashed once
    client, runs = runs_of(tmp_path / "rayprune_results", "flaky")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    # restarted from the iteration-2 checkpoint: no step logged twice, none missing
    assert_iterations(curve_steps(client, runs[0].info.run_id), 4)


def test_ui_says_it_is_up_only_when_it_answers_and_links_the_sweeps_runs(finished_sweep, tmp_path):
    folder, _ = finished_sweep
    one_line_error(rayprune("ui", cwd=tmp_path), "no MLflow store")
    ui = RaypruneUi(folder)
    try:
        _, links = ui.wait_up()
        with urllib.request.urlopen(f"{ui.base}/health", timeout=5) as response:  # no retry
            assert response.read().decode().strip() == "OK"
        experiments = wait_for(
            f"{ui.base}/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny", 10
        )
        experiment = json.loads(experiments)["experiment"]
        assert links == {
            "tiny": f"{ui.base}/#/experiments/{experiment['experiment_id']}/runs"
            "?workflowType=machine_learning&viewStateShareKey=rayprune-trials"
        }
        tags = {t["key"] for t in experiment["tags"]}
        assert "mlflow.sharedViewState.rayprune-trials" in tags  # the view the link opens
    finally:
        ui.stop()  # the UI, the server and the workers it forked, nothing else


def test_the_best_policy_loads_and_serves_as_an_mlflow_model(finished_sweep, tmp_path):
    """models:/rayprune-tiny@best with mlflow.pyfunc, then `mlflow models serve` on loopback:
    both give onnxruntime's outputs on the same observations."""
    folder, _ = finished_sweep
    proc = rayprune("best", "tiny", "--out", tmp_path / "policy", cwd=folder)  # any version
    assert proc.returncode == 0, proc.stderr
    uri = f"sqlite:///{folder / 'rayprune_results' / 'mlflow.db'}"
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    expected = OnnxPolicy(tmp_path / "policy").outputs(obs)

    code = (
        "import sys, json, numpy as np, mlflow.pyfunc;"
        "m = mlflow.pyfunc.load_model('models:/rayprune-tiny@best');"
        "out = m.predict(np.asarray(json.loads(sys.stdin.read()), dtype=np.float32));"
        "print(json.dumps(out['action_logits'].tolist()))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(obs.tolist()), capture_output=True,
        text=True, timeout=300, env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    np.testing.assert_allclose(json.loads(loaded.stdout.splitlines()[-1]), expected, rtol=1e-6)

    port = free_port()
    log = tmp_path / "serve.log"
    # MLflow execs `uvicorn` by name: the environment's scripts must be on PATH, as they are
    # once it is activated
    bin_dir = str(Path(sys.executable).parent)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/rayprune-tiny@best",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri,
             "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    try:
        try:
            wait_for(f"http://127.0.0.1:{port}/ping", timeout=240)
        except OSError:
            raise AssertionError(log.read_text()[-3000:]) from None
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": obs.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = json.loads(response.read())["predictions"]
    finally:
        stop_group(server)  # the scoring server and its workers, nothing else
    np.testing.assert_allclose(served["action_logits"], expected, rtol=1e-6)


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    config = write_config(
        tmp_path, name="intr", budget_env_steps=10_000, max_concurrent_trials=1,
        grid={"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0, 1]},
    )  # fmt: skip
    driver = subprocess.Popen(
        [sys.executable, "-m", "rayprune.cli", "sweep", str(config)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    db = tmp_path / "rayprune_results" / "mlflow.db"
    deadline = time.monotonic() + 300
    while not (db.exists() and finished_runs(db)):
        assert driver.poll() is None and time.monotonic() < deadline, "no trial finished"
        time.sleep(0.5)
    driver.send_signal(
        signal.SIGINT
    )  # Ctrl-C: Tune stops gracefully, the driver shuts its Ray down
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 2 and "rayprune resume intr" in stderr, stderr
    first = list(finished_runs(db).items())
    assert len(first) == 1

    proc = rayprune("resume", "intr", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client, runs = runs_of(tmp_path / "rayprune_results", "intr")
    assert sorted(r.info.run_name for r in runs) == [
        "dsp l1e-4 s0.5 #0",
        "dsp l1e-4 s0.5 #1",
    ]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert finished_runs(db)[first[0][0]] == first[0][1]  # the finished trial was not rerun
    for run in runs:
        assert_iterations(curve_steps(client, run.info.run_id), 20)


def test_a_local_sweep_runs_its_next_trial_in_a_finished_trials_process(tmp_path):
    """On one node Tune reuses a finished trial's process (no second start-up): the driver's
    environment check and one trial process build environments, not one process per trial."""
    pids = tmp_path / "pids"
    pids.mkdir()
    recorder = {
        "path": "tests.integration.recording_env:RecordPid",
        "kwargs": {"folder": str(pids)},
    }
    config = write_config(tmp_path, name="reuse", max_concurrent_trials=1, wrappers=[recorder])
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _, runs = runs_of(tmp_path / "rayprune_results", "reuse")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    assert len(list(pids.iterdir())) == 2


@pytest.fixture
def mlflow_server(tmp_path):
    server = MlflowServer(tmp_path)
    try:
        server.start()
        yield server.uri, server.artifacts
    finally:
        server.stop()


def test_sweep_tracks_to_an_mlflow_server(mlflow_server, tmp_path):
    uri, artifact_root = mlflow_server
    config = write_config(tmp_path, name="remote", grid={**TINY["grid"], "method": ["ppo"]})
    proc = rayprune("sweep", config, "--tracking-uri", uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not (tmp_path / "rayprune_results" / "mlflow.db").exists()  # nothing tracked locally
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("remote").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["ppo #0", "report"]
    runs = [r for r in runs if TRIAL_KEY_TAG in r.data.tags]
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert len(curve_steps(client, runs[0].info.run_id)) == 4
    uploaded = {p.name for p in artifact_root.rglob("*") if p.is_file()}
    assert {"policy.onnx", "policy.safetensors", "compression.json"} <= uploaded

    proc = rayprune("best", "remote", "--out", tmp_path / "best", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "best" / "compression.json").read_text())["method"] == "ppo"


def test_continuous_actions_export_a_clipped_mean(tmp_path):
    config = write_config(
        tmp_path, name="pendulum", env="Pendulum-v1",
        grid={"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    )  # fmt: skip
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = rayprune("best", "pendulum", "--out", "policy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "policy" / "compression.json").read_text())
    assert info["action_space"] == {"type": "box", "shape": [1], "low": [-2.0], "high": [2.0]}
    assert info["hidden_compact"] == [8, 8]
    import onnx

    outputs = [o.name for o in onnx.load(str(tmp_path / "policy" / "policy.onnx")).graph.output]
    assert outputs == ["action_mean"]
    proc = rayprune("eval", "policy", "--episodes", "2", cwd=tmp_path)
    assert proc.returncode == 0 and "over 2 episodes on Pendulum-v1" in proc.stdout, proc.stderr

"""Sweeps on a real two-node Ray cluster with token auth, tracked on a real `mlflow server`, and
what happens when parts of it fail.

The cluster (a head and a second raylet, 1 CPU each) and the server run on this machine, each in
its own process group, stopped by that group. Each test ends with every trial finished, one MLflow
run per trial, curves without gaps or repeated steps, and `best` and `eval` working.
"""

import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from rayprune.store.tracking import NODE_TAG, TRIAL_KEY_TAG
from tests.cli import one_line_error, rayprune
from tests.integration.processes import MlflowServer, RayCluster
from tests.integration.sweeps import TINY, assert_iterations, curve_steps, write_config

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
CURVES = ("train/episode_return_mean", "train/neurons")


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    """The flaky environment's failed-once file: set on the nodes, since trials read it there."""
    return tmp_path_factory.mktemp("flaky") / "failed-once"


@pytest.fixture(scope="module")
def cluster(marker):
    ray = RayCluster(env={"RAYPRUNE_TEST_FLAKY_MARKER": str(marker)})
    try:
        ray.start_head()
        ray.add_node()
        yield ray
    finally:
        ray.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mlflow = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    try:
        mlflow.start()
        yield mlflow
    finally:
        mlflow.stop()


def config(folder, name, **patch):
    return write_config(folder, name=name, checkpoint_every=2, **patch)


def sweep_args(path, cluster, server, results):
    return ("sweep", path, "--address", cluster.address, "--tracking-uri", server.uri,
            "--results", results)  # fmt: skip


def start_driver(args, cwd, env):
    """A `rayprune` process in the background; its output goes to cwd/driver.log (a pipe nobody
    reads would fill up and stall it)."""
    log = open(cwd / "driver.log", "w")  # noqa: SIM115 (the child keeps it open)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rayprune.cli", *map(str, args)],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    proc.log = cwd / "driver.log"
    return proc


def finish(driver, timeout=900) -> str:
    driver.wait(timeout=timeout)
    return driver.log.read_text()


def trial_runs(server, name):
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return client, [r for r in runs if TRIAL_KEY_TAG in r.data.tags]  # not the report's run


def wait_until(condition, driver, timeout=600):
    deadline = time.monotonic() + timeout
    while not condition():
        if driver.poll() is not None:
            pytest.fail(f"the driver exited early:\n{driver.log.read_text()[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(1)


def logged_iterations(client, run) -> int:
    return len(curve_steps(client, run.info.run_id))


def assert_complete(server, name, trials, iterations, tmp_path, env):
    """Every trial FINISHED in exactly one run, whole curves, its policy uploaded; best + eval."""
    client, runs = trial_runs(server, name)
    assert len(runs) == trials, [r.info.run_name for r in runs]
    assert len({r.info.run_name for r in runs}) == trials
    for run in runs:
        assert run.info.status == "FINISHED", run.info.run_name
        steps = curve_steps(client, run.info.run_id)
        assert_iterations(steps, iterations)
        for key in CURVES:  # every curve has a point at every iteration's env steps
            history = client.get_metric_history(run.info.run_id, key)
            assert [m.step for m in history] == steps, (run.info.run_name, key)
        files = {a.path for a in client.list_artifacts(run.info.run_id, "compact_policy")}
        assert "compact_policy/policy.onnx" in files
    out = tmp_path / f"best-{name}"
    proc = rayprune("best", name, "--out", out, "--tracking-uri", server.uri, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    proc = rayprune("eval", out, "--episodes", "2", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "over 2 episodes" in proc.stdout, proc.stderr
    return client, runs


def test_wrong_token_or_address_fails_in_seconds_in_one_line(cluster, server, tmp_path):
    path = config(tmp_path, "refused")
    base = {k: v for k, v in cluster.client_env().items() if k != "RAY_AUTH_TOKEN"}
    cases = [
        ({**base, "HOME": str(tmp_path)}, "requires token authentication"),
        (
            {**base, "RAY_AUTH_TOKEN": "not-the-token"},
            "rejected the auth token from RAY_AUTH_TOKEN",
        ),
    ]
    for env, fragment in cases:
        start = time.monotonic()
        proc = rayprune(*sweep_args(path, cluster, server, tmp_path / "r"), cwd=tmp_path, env=env)
        one_line_error(proc, fragment)
        assert time.monotonic() - start < 15  # not ray.init's 20 s of retries
    local_store = rayprune(
        "sweep", path, "--address", cluster.address, cwd=tmp_path, env=cluster.client_env()
    )
    one_line_error(local_store, "needs an MLflow server every node can reach")
    assert not (tmp_path / "r").exists() and not (tmp_path / "rayprune_results").exists()
    assert trial_runs(server, "refused")[1] == []


def test_sweep_runs_on_both_nodes_and_a_crashed_trial_is_retried(cluster, server, marker, tmp_path):
    """RAY_ADDRESS instead of --address; one trial raises mid-training and resumes elsewhere or
    in place from its checkpoint."""
    path = config(
        tmp_path, "two_nodes", env="tests.integration.flaky_env:FlakyCartPole-v0",
        grid={"method": ["dsp", "ppo"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0, 1]},
    )  # fmt: skip
    env = {**cluster.client_env(), "RAY_ADDRESS": cluster.address}
    proc = rayprune(
        "sweep", path, "--tracking-uri", server.uri, "--results", tmp_path / "r", cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker.exists()  # a trial really raised
    _, runs = assert_complete(server, "two_nodes", 4, 4, tmp_path, env)
    assert {r.data.tags[NODE_TAG] for r in runs} == set(cluster.node_ids())  # both nodes worked
    uploaded = {p.name for p in server.artifacts.rglob("*") if p.is_file()}
    assert {"policy.onnx", "policy.safetensors", "compression.json"} <= uploaded


def test_mlflow_server_restarted_mid_sweep_loses_nothing(cluster, server, tmp_path):
    path = config(tmp_path, "restart", budget_env_steps=8000, grid={**TINY["grid"], "seed": [0, 1]})
    env = cluster.client_env()
    driver = start_driver(sweep_args(path, cluster, server, tmp_path / "r"), tmp_path, env)
    try:

        def some_curve_logged():
            client, runs = trial_runs(server, "restart")
            return any(logged_iterations(client, run) >= 2 for run in runs)

        wait_until(some_curve_logged, driver)
        down = time.time()
        server.stop()
        time.sleep(5)  # trials reach checkpoints, and log, while no server answers
        server.start()
        up = time.time()
        output = finish(driver)
    finally:
        driver.kill()
    assert driver.returncode == 0, output[-3000:]
    client, runs = assert_complete(server, "restart", 4, 16, tmp_path, env)
    created = [m.timestamp / 1000 for run in runs
               for m in client.get_metric_history(run.info.run_id, "train/episode_return_mean")]  # fmt: skip
    assert any(down < t < up for t in created)  # rows made while the server was down got in


def test_driver_killed_then_resumed(cluster, server, tmp_path):
    grid = {"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0, 1, 2]}
    path = config(tmp_path, "killed", budget_env_steps=6000, grid=grid)
    env = cluster.client_env()
    driver = start_driver(sweep_args(path, cluster, server, tmp_path / "r"), tmp_path, env)
    try:

        def one_finished():
            return any(r.info.status == "FINISHED" for r in trial_runs(server, "killed")[1])

        wait_until(one_finished, driver)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    finished = {r.info.run_id: r.info.end_time for r in trial_runs(server, "killed")[1]
                if r.info.status == "FINISHED"}  # fmt: skip
    assert len(finished) < 3  # the kill left trials to resume
    proc = rayprune("resume", "killed", "--results", tmp_path / "r", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _, runs = assert_complete(server, "killed", 3, 12, tmp_path, env)
    assert {r.info.run_id: r.info.end_time for r in runs if r.info.run_id in finished} == finished


def test_worker_node_killed_its_trial_moves_to_the_head(cluster, server, tmp_path):
    path = config(
        tmp_path, "node_lost", budget_env_steps=8000, grid={**TINY["grid"], "seed": [0, 1]}
    )
    nodes = cluster.node_ids()
    worker = next(node for node, role in nodes.items() if role == "worker")
    head = next(node for node, role in nodes.items() if role == "head")
    env = cluster.client_env()
    driver = start_driver(sweep_args(path, cluster, server, tmp_path / "r"), tmp_path, env)
    try:

        def worker_trial_checkpointed():
            client, runs = trial_runs(server, "node_lost")
            return any(
                r.data.tags.get(NODE_TAG) == worker and logged_iterations(client, r) >= 2
                for r in runs
            )

        wait_until(worker_trial_checkpointed, driver)
        moved = next(r.info.run_id for r in trial_runs(server, "node_lost")[1]
                     if r.data.tags.get(NODE_TAG) == worker)  # fmt: skip
        cluster.kill_node(cluster.nodes[-1])
        output = finish(driver)
    finally:
        driver.kill()
    assert driver.returncode == 0, output[-3000:]
    client, runs = assert_complete(server, "node_lost", 4, 16, tmp_path, env)
    assert client.get_run(moved).data.tags[NODE_TAG] == head
    assert set(cluster.node_ids()) == {head}

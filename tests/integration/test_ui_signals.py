"""`rayprune ui` with a real MLflow UI, stopped as people and process managers stop it: SIGTERM
or SIGHUP to rayprune alone (`kill PID`, systemd, a closed terminal), Ctrl-C to its process group
(what a terminal does). Each stops the whole server it started, its workers and MLflow's job
processes included, and frees the port, within seconds and in one line; and a port another
server answers on is refused before anything starts.

Each test stops what it started: the recorded process tree of its `rayprune ui`, by PID."""

import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.cli import REPO, one_line_error
from tests.integration.processes import (
    HealthServer,
    RaypruneUi,
    kill_tree,
    listening,
    process_tree,
    running,
    stop_group,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # creates the store's tables
    return folder, uri


def serving(store) -> tuple[RaypruneUi, dict[int, int]]:
    """A `rayprune ui` that says it is up, and its process tree then (rayprune, `mlflow ui`,
    uvicorn and its workers, MLflow's job runner and its consumers)."""
    folder, uri = store
    ui = RaypruneUi(folder, "--tracking-uri", uri)
    try:
        ui.wait_up()
        tree = process_tree(ui.proc.pid)
        assert len(tree) > 3, tree
    except BaseException:
        ui.stop()
        raise
    ui.drain()  # what it said up to now
    return ui, tree


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_rayprune_stops_the_whole_server_and_frees_the_port(store, sig):
    ui, tree = serving(store)
    try:
        ui.proc.send_signal(sig)  # to rayprune alone
        code, said, took = ui.ended(timeout=60)
        assert code == 128 + sig and said == [f"rayprune: stopped by {sig.name}"], (code, said)
        assert took < 15, took
        assert running(tree) == {}  # no server process, no worker, no job process is left
        assert not listening(ui.port)
    finally:
        kill_tree(tree)
        ui.stop()


def test_ctrl_c_stops_it_within_seconds_in_one_line(store):
    ui, tree = serving(store)
    try:
        os.killpg(ui.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: its foreground group
        code, said, took = ui.ended(timeout=60)
        assert code == 130 and said == ["rayprune: interrupted"], (code, said)  # no traceback
        assert took < 10, took
        assert running(tree) == {} and not listening(ui.port)
    finally:
        kill_tree(tree)
        ui.stop()


def test_a_port_another_server_answers_on_is_refused_before_anything_starts(store):
    """MLflow exits 0 on a taken port, and the other server answers /health with 200: rayprune
    used to say the UI was up and link to that other server."""
    folder, uri = store
    other = HealthServer()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rayprune.cli", "ui", "--tracking-uri", uri, "--port", str(other.port)],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=240)
        one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), "--port")
        assert f"port {other.port}" in err and "is up" not in out and "http" not in out
        assert wait_for(f"http://127.0.0.1:{other.port}/health", timeout=10) == "OK"
    finally:
        stop_group(proc)
        other.stop()

"""A sweep stopped the way clusters stop things (SIGTERM), two drivers on one sweep, a Ray that
cannot start, a reference sweep that is not there: one line each, nothing lost or corrupted,
real processes and real signals."""

import os
import signal
import subprocess
import sys
import time

from tests.cli import REPO, one_line_error, rayprune
from tests.integration.sweeps import (
    assert_iterations,
    curve_steps,
    finished_runs,
    runs_of,
    write_config,
)

SLOW = {"budget_env_steps": 10_000, "max_concurrent_trials": 1}
TWO_SEEDS = {"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0, 1]}


def start_driver(tmp_path, *args, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rayprune.cli", *map(str, args)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        start_new_session=True,  # its Ray is its own: the test signals the driver alone
    )  # fmt: skip


def wait_for_a_finished_trial(driver: subprocess.Popen, db) -> None:
    deadline = time.monotonic() + 300
    while not (db.exists() and finished_runs(db)):
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "no trial finished"
        time.sleep(0.5)


def test_sigterm_stops_a_sweep_like_ctrl_c_and_resume_finishes_it(tmp_path):
    config = write_config(tmp_path, name="term", grid=TWO_SEEDS, **SLOW)
    driver = start_driver(tmp_path, "sweep", config)
    db = tmp_path / "rayprune_results" / "mlflow.db"
    wait_for_a_finished_trial(driver, db)
    sent = time.monotonic()
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=120)
    took = time.monotonic() - sent
    assert driver.returncode == 143, stderr
    lines = stderr.strip().splitlines()
    assert (
        lines[-1].startswith("rayprune: stopped by SIGTERM") and "rayprune resume term" in lines[-1]
    )
    assert "SIGTERM received" not in stderr and "Traceback" not in stderr, stderr
    assert took < 90, took
    client, runs = runs_of(tmp_path / "rayprune_results", "term")
    statuses = sorted(r.info.status for r in runs)
    assert statuses == ["FINISHED", "KILLED"], statuses  # none left RUNNING, none FAILED
    (killed,) = [r for r in runs if r.info.status == "KILLED"]
    assert "rayprune resume term" in killed.data.tags["rayprune.interrupted"]

    proc = rayprune("resume", "term", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client, runs = runs_of(tmp_path / "rayprune_results", "term")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    assert all("rayprune.interrupted" not in r.data.tags for r in runs)
    for run in runs:  # every curve point once: nothing logged twice
        assert_iterations(curve_steps(client, run.info.run_id), 20)


def test_two_resumes_of_one_sweep_one_wins_the_other_is_refused(tmp_path):
    config = write_config(tmp_path, name="race", grid=TWO_SEEDS, **SLOW)
    driver = start_driver(tmp_path, "sweep", config)
    wait_for_a_finished_trial(driver, tmp_path / "rayprune_results" / "mlflow.db")
    driver.send_signal(signal.SIGINT)
    driver.communicate(timeout=120)
    assert driver.returncode == 2

    drivers = [start_driver(tmp_path, "resume", "race") for _ in range(2)]
    done = [subprocess.CompletedProcess(d.args, 0, *d.communicate(timeout=600)) for d in drivers]
    for proc, driver in zip(done, drivers):
        proc.returncode = driver.returncode
    assert sorted(p.returncode for p in done) == [0, 2], [p.stderr[-2000:] for p in done]
    (loser,) = [p for p in done if p.returncode == 2]
    one_line_error(loser, "is running in rayprune pid")
    client, runs = runs_of(tmp_path / "rayprune_results", "race")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    for run in runs:  # one history per run: the loser logged nothing
        assert_iterations(curve_steps(client, run.info.run_id), 20)
        assert len(client.get_metric_history(run.info.run_id, "eval_return_mean")) == 1


def test_a_second_sweep_of_a_running_name_is_refused_before_it_records_anything(tmp_path):
    config = write_config(tmp_path, name="busy", grid=TWO_SEEDS, **SLOW)
    driver = start_driver(tmp_path, "sweep", config)
    try:
        deadline = time.monotonic() + 120
        sweeps = tmp_path / "rayprune_results" / "sweeps"
        while not (sweeps / "busy.json").exists():
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc = rayprune("sweep", config, cwd=tmp_path)
        one_line_error(proc, "sweep 'busy' is running in rayprune pid")
    finally:
        driver.send_signal(signal.SIGTERM)
        driver.communicate(timeout=120)
    assert driver.returncode == 143


def test_a_ray_that_cannot_start_records_nothing_and_the_name_stays_free(tmp_path):
    config = write_config(tmp_path, name="noray")
    not_a_folder = tmp_path / "raytmp"
    not_a_folder.write_text("a file where Ray wants its session folders")
    proc = rayprune("sweep", config, cwd=tmp_path, env={"RAY_TMPDIR": str(not_a_folder)})
    one_line_error(proc, "could not start Ray")
    results = tmp_path / "rayprune_results"
    assert not (results / "sweeps" / "noray.json").exists()
    assert not (results / "mlflow.db").exists()
    proc = rayprune("sweep", config, cwd=tmp_path)  # the same command, where Ray can start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_a_reference_that_names_no_sweep_creates_no_store(tmp_path):
    search = {"kind": "frontier", "reference": "nosuch", "sparsity_min": 0.5, "sparsity_max": 0.9}
    grid = {"method": ["dsp"], "lambda": [1e-4], "seed": [0]}
    config = write_config(tmp_path, name="ref", search=search, grid=grid)
    proc = rayprune("sweep", config, cwd=tmp_path)
    one_line_error(proc, "nosuch")
    assert "INFO" not in proc.stdout + proc.stderr
    assert not (tmp_path / "rayprune_results" / "mlflow.db").exists()

"""The adversarial probes that need real sweeps: drivers racing on a fresh results folder, a
diverging trial, nothing written outside --results, an unreadable checkpoint recovered, and a
moved results folder."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rayprune.names import FAILURE_TAG, RECOVERED_TAG
from tests.cli import REPO, rayprune
from tests.integration.sweeps import assert_iterations, curve_steps, runs_of, write_config

pytestmark = pytest.mark.integration

ONE_TRIAL = {"grid": {"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]}}


def start(config: Path, folder: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rayprune.cli", "sweep", str(config)],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )  # fmt: skip


def test_racing_drivers_a_diverging_trial_and_nothing_outside_results(tmp_path):
    """Three drivers start together on a fresh results folder: 'plain', and 'nan' twice. The
    store is made once; one 'nan' is refused in one line; the other's trial diverges (NaN
    rewards) and ends FAILED with its reason, never FINISHED; HOME stays empty."""
    home = tmp_path / "home"
    home.mkdir()
    plain = write_config(tmp_path, name="plain", **ONE_TRIAL)
    nan = write_config(
        tmp_path,
        name="nan",
        env="tests.integration.faulty_envs:NanRewardCartPole-v0",
        max_failures=0,
        **ONE_TRIAL,
    )
    env = {"HOME": str(home)}
    procs = [start(plain, tmp_path, env), start(nan, tmp_path, env), start(nan, tmp_path, env)]
    outs = [p.communicate(timeout=900) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes[0] == 0, outs[0][1][-3000:]
    last_lines = sorted(err.strip().splitlines()[-1] for _, err in outs[1:])
    assert codes[1:] == [2, 2], outs[1:]
    # the loser of the race for one name: refused by the live driver's lock, or, had that one
    # ended first, by its record
    refused = ("already exists", "sweep 'nan' is running in rayprune pid")
    assert any(r in line for line in last_lines for r in refused), last_lines
    assert any("1 trial(s) failed" in line for line in last_lines), last_lines

    client, runs = runs_of(tmp_path / "rayprune_results", "nan")
    [run] = runs
    assert run.info.status == "FAILED"
    assert "TrialDiverged: training diverged at iteration" in run.data.tags[FAILURE_TAG]
    assert "eval_return_mean" not in run.data.metrics
    # RLlib's per-build log folders went to Ray's session folder, the local Ray's token stayed
    # in the drivers' environment, the library caches in a folder of each process's own
    assert not (home / "ray_results").exists(), sorted(p.name for p in home.iterdir())
    assert not list(home.rglob("mlflow.db")) and not list(home.rglob("checkpoint_*"))
    assert sorted(p.name for p in home.iterdir()) == []


def test_an_unreadable_checkpoint_is_skipped_and_a_moved_folder_still_works(tmp_path):
    results = tmp_path / "rayprune_results"
    marker = tmp_path / "corrupted"
    config = write_config(
        tmp_path,
        name="corrupt",
        env="tests.integration.faulty_envs:CorruptingCartPole-v0",
        budget_env_steps=2500,
        checkpoint_every=1,
        **ONE_TRIAL,
    )
    env = {"RAYPRUNE_TEST_MARKER": str(marker), "RAYPRUNE_TEST_RESULTS": str(results)}
    proc = rayprune("sweep", config, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    corrupted = Path(marker.read_text())  # Tune deleted it since: it keeps the newest two

    client, [run] = runs_of(results, "corrupt")
    assert run.info.status == "FINISHED"
    recovered = run.data.tags[RECOVERED_TAG]
    assert corrupted.parent.name in recovered and "resumed from checkpoint_" in recovered
    steps = curve_steps(client, run.info.run_id)
    assert_iterations(steps, len(steps))  # none twice

    moved = tmp_path / "moved"
    os.rename(results, moved)
    time.sleep(0.1)
    proc = rayprune("best", "corrupt", "--results", moved, "--out", tmp_path / "p", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p" / "compression.json").is_file()
    proc = rayprune("resume", "corrupt", "--results", moved, cwd=tmp_path)
    assert proc.returncode == 2 and "was moved" in proc.stderr.strip().splitlines()[-1]
    assert not results.exists()  # no store or artifacts made where the folder used to be

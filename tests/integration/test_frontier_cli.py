"""The frontier search end to end: dense PPO on two seeds, then two methods bisected side by
side, interrupted and resumed, its summary run, its figure in the report, `best --frontier`."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rayprune.store.point import TrialPoint
from tests.cli import REPO, one_line_error, rayprune
from tests.integration.sweeps import curve_steps, finished_runs, runs_of, write_config

pytestmark = pytest.mark.integration

# [16, 16] between 0.5 and 0.99 keeps 1 to 8 neurons per layer: levels of 2, 4, ..., 16 neurons,
# reached at targets (16 - k) / 16 for k neurons per layer
LEVELS = {2 * k: (16 - k) / 16 for k in range(1, 9)}
KEEP = 0.95
SEEDS = [0, 1]
FROM_DENSE = {"init": "dense", "finetune_env_steps": 1500}  # 3 iterations of 500


def frontier_config(tmp_path, name="front", methods=("dsp", "ssl"), seeds=SEEDS, **search):
    return write_config(
        tmp_path, name=name, env="tests.integration.frontier_env:StayEnv",
        max_episode_steps=20, budget_env_steps=2000, max_concurrent_trials=2,
        grid={"method": list(methods), "lambda": [1e-4], "seed": list(seeds)},
        search={"kind": "frontier", "keep": KEEP, "sparsity_min": 0.5, "sparsity_max": 0.99,
                **search},
    )  # fmt: skip


def expected_probes(returns: dict[TrialPoint, float], r_random: float, method: str) -> list[int]:
    """The bisection a frontier search must run, replayed by hand from the trials' own eval
    returns: levels by neurons kept, a level keeps when its mean retained return >= KEEP."""
    r_dense = sum(returns[TrialPoint("ppo", 0.0, 0.0, s)] for s in SEEDS) / len(SEEDS)
    kept = sorted(LEVELS)
    low, high, probed = 0, len(kept), []
    while low < high:
        mid = (low + high) // 2
        probed.append(kept[mid])
        target = LEVELS[kept[mid]]
        mean = sum(returns[TrialPoint(method, 1e-4, target, s)] for s in SEEDS) / len(SEEDS)
        if (mean - r_random) / (r_dense - r_random) >= KEEP:
            high = mid
        else:
            low = mid + 1
    return probed


def test_a_frontier_search_bisects_resumes_logs_and_picks(tmp_path):
    driver = subprocess.Popen(
        [sys.executable, "-m", "rayprune.cli", "sweep", str(frontier_config(tmp_path))],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # the trials import the test's env
    )  # fmt: skip
    db = tmp_path / "rayprune_results" / "mlflow.db"
    deadline = time.monotonic() + 300
    while not (db.exists() and len(finished_runs(db)) >= 4):  # dense and the first probes
        assert driver.poll() is None and time.monotonic() < deadline, "no trials finished"
        time.sleep(0.5)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 2 and "rayprune resume front" in stderr, stderr
    before = finished_runs(db)

    proc = rayprune("resume", "front", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client, runs = runs_of(tmp_path / "rayprune_results", "front")
    assert all(r.info.status == "FINISHED" for r in runs)
    after = finished_runs(db)
    assert all(after[run_id] == end for run_id, end in before.items())  # nothing rerun
    returns = {
        TrialPoint.from_params(r.data.params): r.data.metrics["eval_return_mean"] for r in runs
    }
    assert len(returns) == len(runs)  # every trial its own point: no probe ran twice

    summary = client.search_runs(
        [client.get_experiment_by_name("front").experiment_id],
        filter_string="tags.`rayprune.summary` = 'frontier'",
    )
    path = client.download_artifacts(summary[0].info.run_id, "frontier.json", str(tmp_path))
    rows = json.loads(Path(path).read_text())
    (random_row,) = [r for r in rows if r["method"] == "random"]
    r_random = random_row["eval_return_mean"]
    assert 0.0 <= r_random < 5.0  # a coin flip per step: about 1

    for method in ("dsp", "ssl"):
        probed = expected_probes(returns, r_random, method)
        ran = [2 * (16 - round(p.sparsity_target * 16)) for p in returns if p.method == method]
        assert sorted(ran) == sorted(probed * len(SEEDS))  # each probe once per seed
        answer = [r for r in rows if r["method"] == method and r["frontier"]]
        assert len(answer) <= 1
        if answer:
            assert answer[0]["retained_return_mean"] >= KEEP
            assert answer[0]["kept"] == min(
                k for k in probed if any(r["kept"] == k and r["keeps"] for r in rows)
            )
    assert "Frontier at keep 0.95" in proc.stdout
    # its cost: each probe once per seed, 2000 env steps each (less than a 500-step batch over)
    for method in ("dsp", "ssl"):
        trials = len(expected_probes(returns, r_random, method)) * len(SEEDS)
        spent = re.search(rf"{method} (\d+) trials, ([\d,]+) env steps", proc.stdout)
        assert int(spent[1]) == trials, proc.stdout[-2000:]
        assert 2000 * trials <= int(spent[2].replace(",", "")) < 2500 * trials
    assert "cost: dense PPO 2 trials" in proc.stdout

    page = (tmp_path / "rayprune_results" / "reports" / "front" / "report.html").read_text()
    assert "Frontier: retained return against units kept" in page
    assert (
        (tmp_path / "rayprune_results" / "reports" / "front" / "front-frontier.png").stat().st_size
    )

    best = rayprune("best", "front", "--frontier", "--out", tmp_path / "best", cwd=tmp_path)
    if any(r["frontier"] for r in rows):
        assert best.returncode == 0, best.stdout + best.stderr
        assert "from the frontier:" in best.stdout
        assert "Downloading artifacts" not in best.stderr  # MLflow's progress bar stays off
    else:
        one_line_error(best, "has no frontier answer")

    # an earlier sweep's dense PPO as the reference, its probes starting from those policies:
    # no dense trial runs again, and each probe fine-tunes for 3 iterations, not 4
    again = rayprune(
        "sweep", frontier_config(tmp_path, "again", ["dsp"], reference="front", **FROM_DENSE),
        cwd=tmp_path, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "the dense PPO of sweep 'front' on 2 seed(s)" in again.stdout
    _, again_runs = runs_of(tmp_path / "rayprune_results", "again")
    assert {r.data.params["method"] for r in again_runs} == {"dsp"}
    assert f"cost: dsp {len(again_runs)} trials" in again.stdout  # front's dense PPO is not its
    tuned = [curve_steps(client, r.info.run_id)[-1] for r in again_runs]
    scratch = [curve_steps(client, r.info.run_id)[-1] for r in runs]
    assert 1500 <= min(tuned) <= max(tuned) < 2000 <= min(scratch), (tuned, scratch)
    for run in again_runs:  # each says which of front's dense PPO policies it started from
        dense = TrialPoint("ppo", 0.0, 0.0, int(run.data.params["seed"]))
        assert f"(key {dense.key('front')})" in run.data.tags["rayprune.started_from"]
    other = write_config(
        tmp_path,
        **{
            **yaml.safe_load(
                frontier_config(
                    tmp_path, "fourth", ["dsp"], reference="front", **FROM_DENSE
                ).read_text()
            ),
            "model": {"hidden": [8, 8]},
        },
    )
    mismatch = rayprune("sweep", other, cwd=tmp_path, env={"PYTHONPATH": str(REPO)})
    one_line_error(mismatch, "search.reference 'front' trained dense PPO with model")
    missing = rayprune("sweep", frontier_config(tmp_path, "third", seeds=[0, 5], reference="front"),
                       cwd=tmp_path, env={"PYTHONPATH": str(REPO)})  # fmt: skip
    one_line_error(missing, "sweep 'front' has no finished dense PPO trial of seed 5")
    assert client.get_experiment_by_name("third") is None  # nothing recorded

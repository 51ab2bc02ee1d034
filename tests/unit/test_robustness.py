"""What an adversarial pass over the CLI broke, each reproduced here at unit level: bad config
values, names, stores and folders, secrets, checkpoints, `best` changing the registry before its
checks. (The probes that need real processes: tests/integration/test_adversarial.py.)"""

import json
import math
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rayprune.errors import (
    AlreadyExists,
    ArtifactError,
    ConfigError,
    SweepError,
    TrackingUnavailable,
    TrialDiverged,
)
from rayprune.policy import OnnxPolicy, read_info
from rayprune.store.tracking import check_tracking_server, create_experiment
from rayprune.store.uri import take_credentials, without_credentials
from rayprune.sweep.bound import bound
from rayprune.sweep.checkpoints import (
    CorruptCheckpoint,
    TrialState,
    read_state,
    trained,
    usable,
    write_state,
)
from rayprune.sweep.config import load_config, parse_config
from rayprune.sweep.config.env_check import check_targets_reachable
from rayprune.sweep.config.grid import points
from rayprune.sweep.config.overrides import apply_overrides
from rayprune.sweep.trainable import check_finite
from rayprune.sweep.workspace import Workspace
from tests.cli import one_line_error, rayprune
from tests.unit.policies import DISCRETE, make_policy

BASE = {"name": "t", "env": "CartPole-v1", "budget_env_steps": 200_000}


# --- config: values the grid cannot hold ---------------------------------------------------


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"grid": {"seed": [0, 0]}}, "seed lists 0 more than once"),
        ({"grid": {"lambda": [1e-4, 0.0001]}}, "lambda lists 0.0001 more than once"),
        ({"grid": {"method": ["dsp", "dsp"]}}, "method lists 'dsp' more than once"),
        ({"grid": {"lambda": [math.nan]}}, "grid.lambda.0: Input should be a finite number"),
        ({"grid": {"lambda": [math.inf]}}, "grid.lambda.0: Input should be a finite number"),
        ({"ppo": {"lr": math.inf}}, "ppo.lr: Input should be a finite number"),
        ({"ppo": {"clip_param": math.nan}}, "ppo.clip_param: Input should be a finite number"),
        ({"ppo": {"grad_clip": math.inf}}, "ppo.grad_clip: Input should be a finite number"),
        ({"grid": {"seed": [True]}}, "grid.seed.0: must be an integer, not a boolean"),
        ({"budget_env_steps": True}, "budget_env_steps: must be an integer, not a boolean"),
    ],
)
def test_grid_values_must_be_distinct_finite_and_typed(patch, message):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, **patch})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "name: a\nname: b\nenv: CartPole-v1\nbudget_env_steps: 1000\n",
            "key 'name' is given twice",
        ),
        ("name: a\nppo: {lr: 1, lr: 2}\n", "key 'lr' is given twice"),
    ],
)
def test_a_key_given_twice_is_an_error(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_unreadable_config_files_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    binary = tmp_path / "c.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_config(binary)


@pytest.mark.parametrize(
    "override", ["grid.seed=[0", "grid.seed=!!python/object/apply:os.system [echo hi]"]
)
def test_broken_or_unsafe_overrides_are_refused(override):
    with pytest.raises(ConfigError, match="is not valid YAML"):
        apply_overrides({}, [override])


@pytest.mark.parametrize(
    "hidden, target, method, most",
    [([1], 0.5, "dsp", "at most 0 of the neurons"), ([8, 8], 0.9999, "dsp", "at most 0.875"),
     ([4, 4], 0.99, "l1", "at most 0.925 of the weights")],
)  # fmt: skip
def test_targets_the_network_cannot_reach_are_refused(hidden, target, method, most):
    from rayprune.policy import check_env

    raw = {**BASE, "model": {"hidden": hidden}, "grid": {"method": [method], "sparsity_target": [target]}}  # fmt: skip
    with pytest.raises(ConfigError, match=f"cannot be reached.*{most}"):
        check_targets_reachable(parse_config(raw), check_env("CartPole-v1"))


def test_reachable_targets_pass():
    from rayprune.policy import check_env

    # 4 (of 4) inputs x 128 ... : 93% of each 128-neuron layer is 119.04, 120 can go
    cfg = parse_config({**BASE, "grid": {"sparsity_target": [0.93, 0.99]}})
    check_targets_reachable(cfg, check_env("CartPole-v1"))


def test_trials_are_counted_without_listing_them():
    grid = {"method": ["dsp", "ppo"], "lambda": [1e-4, 1e-3], "sparsity_target": [0.5, 0.9]}
    from rayprune.policy import check_env

    cfg = parse_config({**BASE, "grid": {**grid, "seed": list(range(5))}})
    assert bound(cfg, check_env("CartPole-v1")).trials == (2 * 2 + 1) * 5 == len(points(cfg))


@pytest.mark.slow
def test_a_huge_grid_is_refused_before_anything_is_recorded(tmp_path):
    config = tmp_path / "huge.yaml"
    seeds = ", ".join(str(i) for i in range(1500))
    config.write_text(
        f"name: huge\nenv: CartPole-v1\nbudget_env_steps: 200000\ngrid: {{seed: [{seeds}], "
        "lambda: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], sparsity_target: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]}\n"
    )
    proc = rayprune("sweep", config, cwd=tmp_path)
    one_line_error(proc, "45000 trials is more than --max-trials 1000")
    assert "45000 trial(s), up to 9,000,000,000 env steps" in proc.stdout
    assert not (tmp_path / "rayprune_results").exists()


# --- names, folders and stores ------------------------------------------------------------


@pytest.mark.parametrize("command", [["best", "../../x", "--out", "o"], ["resume", "../x"], ["report", "a/../b"]])  # fmt: skip
@pytest.mark.slow
def test_every_command_validates_sweep_names(tmp_path, command):
    outside = tmp_path / "x.json"
    outside.write_text(json.dumps({"config": {}, "tracking_uri": "http://evil", "storage": "/"}))
    results = tmp_path / "r"
    proc = rayprune(*command, "--results", results, cwd=tmp_path)
    one_line_error(proc, "is not a sweep name")
    assert not results.exists()


def test_a_moved_results_folder_finds_its_store_and_never_makes_one(tmp_path):
    old = Workspace.create(tmp_path / "old")
    old.save_sweep("s", {"name": "s"})
    record = json.loads(old.sweep_file("s").read_text())
    assert str(tmp_path) not in json.dumps(record)  # relative to the results folder
    (tmp_path / "old" / "mlflow.db").write_bytes(b"")
    os.rename(tmp_path / "old", tmp_path / "new")
    _, recorded = Workspace.create(tmp_path / "new").load_sweep("s")
    assert recorded.tracking_uri == f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    assert recorded.storage == str(tmp_path / "new" / "ray")
    recorded.check_store()
    (tmp_path / "new" / "mlflow.db").unlink()
    with pytest.raises(SweepError, match="no MLflow store at"):
        recorded.check_store()
    assert not (tmp_path / "old").exists() and not (tmp_path / "new" / "mlflow.db").exists()


def test_a_corrupt_sweep_record_is_one_line(tmp_path):
    ws = Workspace.create(tmp_path)
    ws.sweep_file("s").parent.mkdir(parents=True)
    ws.sweep_file("s").write_text("{")
    with pytest.raises(SweepError, match="is corrupt"):
        ws.load_sweep("s")


@pytest.mark.slow
def test_a_corrupt_store_is_named_in_one_line(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(TrackingUnavailable, match=f"the MLflow store {db} is corrupt.*recover"):
        check_tracking_server(f"sqlite:///{db}")
    check_tracking_server(f"sqlite:///{tmp_path / 'fresh.db'}")  # not there yet: fine
    (tmp_path / "c.yaml").write_text("name: s\nenv: CartPole-v1\nbudget_env_steps: 200000\n")
    proc = rayprune("sweep", "c.yaml", "--results", ".", cwd=tmp_path)
    one_line_error(proc, "is corrupt")


def _create(uri, name, artifacts, results):
    try:
        create_experiment(uri, name, artifacts)
        results.put("created")
    except AlreadyExists:
        results.put("exists")
    except Exception as err:  # what the race used to raise
        results.put(f"{type(err).__name__}: {err}")


def test_drivers_racing_on_a_fresh_store(tmp_path):
    """Four processes create one fresh store at once, two experiments twice each: each name
    is made once, the other gets AlreadyExists (the schema race used to crash one)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_create, args=(uri, name, (tmp_path / "a").as_uri(), results))
        for name in ("a", "b", "a", "b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["created", "created", "exists", "exists"]
    names = {e.name for e in MlflowClient(uri).search_experiments()}
    assert {"a", "b"} <= names


# --- secrets --------------------------------------------------------------------------------


def test_credentials_leave_the_uri_for_mlflows_variables(monkeypatch):
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    uri = take_credentials("https://ann:s%40cret@mlflow.example:5000/path?x=1")
    assert uri == "https://mlflow.example:5000/path?x=1"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "ann"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s@cret"
    assert without_credentials("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert take_credentials(None) is None


@pytest.mark.slow
def test_a_secret_in_the_uri_is_never_echoed(tmp_path):
    proc = rayprune(
        "best", "s", "--out", "o", "--tracking-uri", "http://ann:hunter2@127.0.0.1:9", cwd=tmp_path
    )
    one_line_error(proc, "http://127.0.0.1:9")
    assert "hunter2" not in proc.stdout + proc.stderr


# --- trials: divergence and checkpoints -----------------------------------------------------


def test_a_non_finite_loss_or_regularizer_stops_the_trial():
    check_finite(3, 0.5, 0.0)
    with pytest.raises(TrialDiverged, match="diverged at iteration 4: loss nan"):
        check_finite(4, math.nan, 0.0)
    with pytest.raises(TrialDiverged, match="regularizer inf"):
        check_finite(5, 1.0, math.inf)


def checkpoint_dir(trial: Path, index: int, state: TrialState | None, algorithm=True) -> Path:
    folder = trial / f"checkpoint_{index:06d}"
    folder.mkdir(parents=True)
    if state is not None:
        write_state(folder, state)
    if algorithm:
        (folder / "algorithm").mkdir()
    return folder


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    from ray import tune

    checkpoint_dir(tmp_path, 2, TrialState(env_steps=1000.0, iteration=2))
    newest = checkpoint_dir(tmp_path, 4, None)
    (newest / "rayprune_state.json").write_text("")  # what a full disk left
    with pytest.raises(CorruptCheckpoint, match="checkpoint_000004 is unreadable"):
        read_state(newest)
    with usable(tune.Checkpoint(str(newest))) as (folder, state, skipped):
        pass
    assert folder.name == "checkpoint_000002" and state.env_steps == 1000.0
    assert len(skipped) == 1 and "checkpoint_000004" in skipped[0]


def test_with_no_readable_checkpoint_the_trial_starts_over(tmp_path):
    from ray import tune

    only = checkpoint_dir(tmp_path, 3, TrialState(env_steps=1500.0), algorithm=False)
    with usable(tune.Checkpoint(str(only))) as (folder, state, skipped):
        pass
    assert folder is None and state == TrialState() and "algorithm/ is missing" in skipped[0]


def test_checkpoints_of_older_rayprune_still_read(tmp_path):
    folder = checkpoint_dir(tmp_path, 1, None)
    (folder / "rayprune_state.json").write_text(json.dumps({"iteration": 10, "env_steps": 20000}))
    assert read_state(folder) == TrialState(env_steps=20000, iteration=10)


def test_a_probe_finds_dense_ppos_trained_policy_in_its_trials_checkpoints(tmp_path):
    final = {"eval_return_mean": 500.0}
    trial = tmp_path / "front" / "ppo-seed1_a1b2c_00001"
    checkpoint_dir(trial, 1, TrialState(env_steps=4000.0, iteration=2))
    checkpoint_dir(trial, 2, TrialState(env_steps=8000.0, iteration=4))
    checkpoint_dir(trial, 3, TrialState(final=final), algorithm=False)  # the final metrics only
    other = tmp_path / "front" / "ppo-seed10_a1b2c_00002"  # seed 10, not 1
    checkpoint_dir(other, 9, TrialState(env_steps=8000.0, iteration=4))
    with trained(str(tmp_path), "front", "ppo-seed1") as folder:
        assert folder == trial / "checkpoint_000002"
    with pytest.raises(SweepError, match="no checkpoint of trial ppo-seed2 in .*front holds"):
        with trained(str(tmp_path), "front", "ppo-seed2"):
            pass


# --- the policy folder and `best` ------------------------------------------------------------


@pytest.mark.slow
def test_eval_checks_the_graph_against_compression_json(tmp_path):
    _, folder = make_policy(tmp_path, DISCRETE)
    info = json.loads((folder / "compression.json").read_text())
    (folder / "compression.json").write_text(json.dumps({**info, "obs_dim": 7}))
    with pytest.raises(ArtifactError, match="does not match compression.json"):
        OnnxPolicy(folder)
    (folder / "compression.json").write_text(json.dumps({**info, "action_space": {"n": 3}}))
    with pytest.raises(ArtifactError, match="missing 'type'"):
        read_info(folder)
    proc = rayprune("eval", folder, cwd=tmp_path)
    one_line_error(proc, "missing 'type'")


@pytest.mark.slow
def test_best_checks_out_before_it_touches_the_registry(tmp_path, one_sweep_store):
    uri, client = one_sweep_store
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("mine")
    attempts = [(taken, "exists and is not empty")] * 3
    if os.geteuid() != 0:  # root writes into a read-only folder: nothing to refuse there
        readonly = tmp_path / "ro"
        readonly.mkdir(mode=0o555)
        attempts += [(readonly / "sub" / "p", "cannot create")] * 2
    for out, fragment in attempts:
        proc = rayprune("best", "tiny", "--tracking-uri", uri, "--out", out, cwd=tmp_path)
        one_line_error(proc, fragment)
    assert client.search_registered_models() == []
    assert (taken / "file").read_text() == "mine" and sorted(os.listdir(taken)) == ["file"]
    proc = rayprune("best", "tiny", "--tracking-uri", uri, "--out", tmp_path / "p", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [model] = client.search_registered_models()
    assert [int(v.version) for v in client.search_model_versions(f"name='{model.name}'")] == [1]


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    code = (
        "import rayprune.cli as cli\n"
        "def interrupted(): raise KeyboardInterrupt\n"
        "cli.app = interrupted\n"
        "cli.main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 130 and proc.stderr.strip() == "rayprune: interrupted"

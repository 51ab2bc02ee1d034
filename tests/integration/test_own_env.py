"""The user's own environment in, the same policy out: a simulator nothing registered
beforehand, made with its kwargs, trained by `rayprune sweep`, pulled by `best`, and evaluated
by `rayprune eval` in a fresh process that has only the simulator's package on its path."""

import json
import re
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest
import yaml

from tests.cli import REPO, one_line_error, rayprune

pytestmark = pytest.mark.integration

USER_SIM = REPO / "tests" / "data" / "user_sim"
TINY = {
    "budget_env_steps": 1000,
    "ppo": {"train_batch_size": 500, "minibatch_size": 128, "num_epochs": 2},
    "model": {"hidden": [16, 16], "critic_hidden": [16]},
    "pruning": {"start_iter": 1, "end_iter": 2},
    "grid": {"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    "num_envs_per_env_runner": 2,
    "eval_episodes": 4,
}
RETURN = re.compile(r"^return (-?[\d.]+) \+- [\d.]+ over (\d+) episodes", re.MULTILINE)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """A folder holding only the user's package, user_sim."""
    folder = tmp_path_factory.mktemp("sim")
    shutil.copytree(USER_SIM, folder / "user_sim", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def sweep(folder: Path, sim: Path, name: str, env: str, **extra):
    config = {"name": name, "env": env, "py_modules": [str(sim / "user_sim")], **TINY, **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return rayprune("sweep", path, cwd=folder)


def pulled(folder: Path, name: str) -> Path:
    proc = rayprune("best", name, "--out", f"{name}_policy", cwd=folder)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return folder / f"{name}_policy"


def eval_elsewhere(policy: Path, sim: Path, tmp_path: Path, *args: str):
    """`rayprune eval` from another folder, with only rayprune and the simulator importable."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return rayprune("eval", policy, *args, cwd=elsewhere, env={"PYTHONPATH": f"{REPO}:{sim}"})


def logged_return_is_reproduced(policy: Path, sim: Path, tmp_path: Path) -> dict:
    info = json.loads((policy / "compression.json").read_text())
    proc = eval_elsewhere(policy, sim, tmp_path)  # by default, the trial's evaluation episodes
    assert proc.returncode == 0, proc.stderr[-2000:]
    mean, count = RETURN.search(proc.stdout).groups()
    assert int(count) == info["eval_episodes"]
    # printed with two decimals: within half a hundredth
    assert float(mean) == pytest.approx(info["eval_return_mean"], abs=0.0051)
    return info


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("results")


def test_a_class_path_with_kwargs_and_a_2d_observation(results, sim, tmp_path):
    proc = sweep(
        results, sim, "road", "user_sim:Road", env_config={"lanes": 3},
        normalize_observations=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    policy = pulled(results, "road")
    info = logged_return_is_reproduced(policy, sim, tmp_path)
    assert info["env"] == "user_sim:Road" and info["obs_shape"] == [3, 4]
    assert info["environment"]["env_config"] == {"lanes": 3}
    assert len(info["normalization"]["mean"]) == 12 and info["normalization"]["clip"] == 10.0
    graph = ort.InferenceSession(str(policy / "policy.onnx"))
    assert graph.get_inputs()[0].shape[1:] == [3, 4]
    assert info["action_space"] == {"type": "discrete", "n": 3}
    proc = eval_elsewhere(policy, sim, tmp_path, "--runtime", "c", "--episodes", "2")
    assert proc.returncode == 0 and RETURN.search(proc.stdout), proc.stderr[-2000:]


def test_gymnasiums_module_id_form(results, sim, tmp_path):
    proc = sweep(
        results, sim, "road-id", "user_sim:Road-v0", env_config={"lanes": 2},
        max_episode_steps=10,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = logged_return_is_reproduced(pulled(results, "road-id"), sim, tmp_path)
    assert info["environment"]["max_episode_steps"] == 10
    assert info["eval_return_mean"] <= 10  # episodes of at most 10 steps, reward <= 1 each


def test_a_dict_observation(results, sim, tmp_path):
    proc = sweep(results, sim, "beacon", "user_sim:Beacon")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = logged_return_is_reproduced(pulled(results, "beacon"), sim, tmp_path)
    # gymnasium's flatten rule: keys sorted, position (2) then signal one-hot (3)
    assert info["obs_dim"] == 5 and "gymnasium.spaces.flatten" in info["observation"]


def test_multi_discrete_actions(results, sim, tmp_path):
    proc = sweep(results, sim, "mixer", "user_sim:Mixer")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    policy = pulled(results, "mixer")
    info = logged_return_is_reproduced(policy, sim, tmp_path)
    assert info["action_space"] == {"type": "multi_discrete", "nvec": [2, 3]}
    proc = eval_elsewhere(policy, sim, tmp_path, "--runtime", "c", "--episodes", "2")
    assert proc.returncode == 0 and RETURN.search(proc.stdout), proc.stderr[-2000:]


@pytest.mark.parametrize(
    ("env", "env_config", "fragment"),
    [
        ("no_such_sim:Road", {}, "cannot import 'no_such_sim'"),
        ("NoSuchEnv-v9", {}, "unknown environment 'NoSuchEnv-v9'"),
        ("user_sim:Road", {"lanes": 3, "weather": "rain"}, "rejected env_config"),
        ("user_sim:Road", {}, "rejected env_config"),
        ("user_sim:Chatty", {}, "is not supported"),
        ("user_sim:Broken", {}, "step() raised RuntimeError: the physics engine lost its solver"),
        ("user_sim:HORIZON", {}, "neither a registered id nor a gymnasium.Env subclass"),
    ],
)
def test_a_bad_environment_is_one_line_and_creates_nothing(
    sim, tmp_path, env, env_config, fragment
):
    proc = sweep(tmp_path, sim, "bad", env, env_config=env_config)
    one_line_error(proc, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]

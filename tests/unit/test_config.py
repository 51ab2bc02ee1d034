from pathlib import Path

import pytest

from rayprune.errors import ConfigError
from rayprune.policy import ActionSpace, UnsupportedEnvError, check_env
from rayprune.store.point import TrialPoint
from rayprune.sweep.config import load_config, parse_config
from rayprune.sweep.config.env_check import check_environment
from rayprune.sweep.config.grid import points as grid_points
from rayprune.sweep.config.overrides import apply_overrides

REPO = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "env": "CartPole-v1", "budget_env_steps": 200_000}


def test_shipped_configs_are_valid():
    for path in sorted((REPO / "tune_configs").glob("*.yaml")):
        assert load_config(path).name == path.stem


def test_paper_grid_size():
    cfg = load_config(REPO / "tune_configs" / "cartpole_dsp.yaml")
    points = grid_points(cfg)
    assert len(points) == 6 * 4 * 5 + 5  # DSP grid plus one dense run per seed
    assert sum(p.method == "ppo" for p in points) == 5


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"learning_rate": 1e-3}, "learning_rate: unknown key"),
        ({"ppo": {"lr_schedule": 1}}, "ppo.lr_schedule: unknown key"),
        ({"grid": {"lambda": [-1e-4]}}, "lambda must be >= 0"),
        ({"grid": {"sparsity_target": [1.0]}}, "sparsity_target must be in [0, 1)"),
        ({"grid": {"sparsity_target": [-0.1]}}, "sparsity_target must be in [0, 1)"),
        ({"grid": {"method": ["magic"]}}, "unknown method"),
        ({"pruning": {"reading": "median"}}, "pruning.reading"),
        ({"pruning": {"start_iter": 9, "end_iter": 9}}, "end_iter (9) must be > start_iter (9)"),
        ({"budget_env_steps": 10_000}, "past the budget's last iteration"),
        ({"model": {"activation": "gelu2"}}, "unknown activation"),
        ({"name": "../escape"}, "name:"),
        ({"grid": {"seed": [0, -1]}}, "seeds must be >= 0"),
    ],
)
def test_bad_config_is_one_line_error(patch, message):
    raw = {**BASE, **patch}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_overrides_select_a_slice_of_the_grid():
    raw = apply_overrides(dict(BASE), ["grid.lambda=[1e-5, 1e-4]", "grid.seed=[3]", "ppo.lr=1e-3"])
    cfg = parse_config(raw)
    assert cfg.grid.lam == [1e-5, 1e-4] and cfg.grid.seed == [3] and cfg.ppo.lr == 1e-3
    with pytest.raises(ConfigError):
        apply_overrides(dict(BASE), ["grid.lambda"])


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_trial_key_depends_on_sweep_and_hyperparameters():
    params = {"method": "dsp", "lambda": 1e-4, "sparsity_target": 0.9, "seed": 0}
    point = TrialPoint.from_params(params)
    assert point.key("a") == TrialPoint.from_params(dict(reversed(list(params.items())))).key("a")
    assert point.key("a") != point.key("b")
    assert point.key("a") != TrialPoint.from_params({**params, "seed": 1}).key("a")
    # MLflow's string params give the same point, so a run's key can be recomputed from them
    assert TrialPoint.from_params({k: str(v) for k, v in params.items()}) == point


def test_environment_checks():
    assert check_env("CartPole-v1")[:3] == (4, ActionSpace("discrete", n=2), None)
    # the paper's other environments come with rayprune's dependencies (box2d, mujoco)
    assert check_env("LunarLander-v3")[:2] == (8, ActionSpace("discrete", n=4))
    assert check_env("Hopper-v5")[0] == 11
    obs_dim, space, _, _ = check_env("Pendulum-v1")
    assert obs_dim == 3 and space.type == "box" and space.low == (-2.0,)
    with pytest.raises(UnsupportedEnvError, match="unknown environment"):
        check_env("NoSuchEnv-v9")


def test_validating_a_config_builds_no_environment_the_preflight_step_does(tmp_path, monkeypatch):
    # a valid environment that counts its constructions in a file
    module = tmp_path / "counting_env.py"
    module.write_text(
        "import pathlib\n"
        "import gymnasium\n"
        "import numpy as np\n"
        "CALLS = pathlib.Path(__file__).with_suffix('.calls')\n"
        "class Counting(gymnasium.Env):\n"
        "    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)\n"
        "    action_space = gymnasium.spaces.Discrete(2)\n"
        "    def __init__(self):\n"
        "        CALLS.write_text(str(int(CALLS.read_text()) + 1 if CALLS.exists() else 1))\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        super().reset(seed=seed)\n"
        "        return np.zeros(3, np.float32), {}\n"
        "    def step(self, action):\n"
        "        return np.zeros(3, np.float32), 1.0, True, False, {}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = module.with_suffix(".calls")
    cfg = parse_config({**BASE, "env": "counting_env:Counting", "py_modules": [str(module)]})
    assert not calls.exists()
    spaces = check_environment(cfg)
    assert spaces.obs_dim == 3 and int(calls.read_text()) >= 1


@pytest.mark.parametrize(
    "patch,fragment",
    [
        ({"pruning": {"gates": "channel"}}, "pruning.gates"),
        ({"pruning": {"dropout_rate": 1.0}}, "pruning.dropout_rate"),
        ({"pruning": {"lowrank_energy": 0.0}}, "pruning.lowrank_energy"),
        ({"pruning": {"weight_threshold": -1}}, "pruning.weight_threshold"),
        ({"api_stack": "old", "pruning": {"distill_coeff": 0.5}}, "needs api_stack: new"),
        ({"api_stack": "legacy"}, "api_stack"),
    ],
)
def test_method_options_are_validated(patch, fragment):
    raw = {"name": "x", "env": "CartPole-v1", "budget_env_steps": 200_000, **patch}
    with pytest.raises(ConfigError, match=fragment):
        parse_config(raw)

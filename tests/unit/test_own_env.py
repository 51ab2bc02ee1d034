"""The user's environment without RLlib: how it is built, which spaces are served and how an
observation becomes the policy's input, MultiDiscrete actions, and the frozen normalization the
exported graph and C apply. Expected values are worked out by hand in each test."""

import shutil
import sys

import gymnasium as gym
import numpy as np
import onnxruntime as ort
import pytest
import torch
from gymnasium import spaces

from rayprune.errors import UnsupportedEnvError
from rayprune.policy import (
    ActionSpace,
    EnvSpec,
    ObsNormalization,
    OnnxPolicy,
    StagedPolicy,
    WrapperSpec,
    check_env,
    env_spaces,
    flat_observations,
)
from rayprune.policy.c_runtime import CPolicy
from rayprune.policy.spaces import policy_input
from rayprune.pruning.compaction import CompactMLP
from tests.cli import REPO


@pytest.fixture
def user_sim(tmp_path, monkeypatch):
    """The test simulators importable as `user_sim`, as a user's PYTHONPATH makes them."""
    shutil.copytree(REPO / "tests" / "data" / "user_sim", tmp_path / "user_sim")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("user_sim", None)
    gym.registry.pop("Road-v0", None)


def test_a_class_path_is_made_with_its_kwargs_wrappers_and_time_limit(user_sim):
    spec = EnvSpec(
        "user_sim:Road",
        {"lanes": 4},
        (WrapperSpec("gymnasium.wrappers:TransformReward", {"func": abs}),),
        max_episode_steps=3,
    )
    env = spec.make()
    assert env.action_space == spaces.Discrete(4)
    env.reset(seed=0)
    truncated = [env.step(0)[3] for _ in range(3)]
    assert truncated == [False, False, True]  # 3 steps, not the simulator's own 20


def test_the_module_id_form_imports_the_module_that_registers_it(user_sim):
    assert "Road-v0" not in gym.registry
    env = EnvSpec("user_sim:Road-v0", {"lanes": 2}).make()
    assert env.spec.id == "Road-v0" and env.spec.max_episode_steps == 20


def test_spec_survives_compression_jsons_round_trip():
    spec = EnvSpec("a.b:C", {"k": 1}, (WrapperSpec("w:W", {"x": 2}),), 7)
    assert EnvSpec.of(spec.id, spec.settings()) == spec


def test_a_2d_box_is_served_in_its_own_shape(user_sim):
    found = check_env(EnvSpec("user_sim:Road", {"lanes": 3}))
    assert (found.obs_dim, found.obs_shape, found.input_shape) == (12, (3, 4), (3, 4))


def test_a_dict_observation_is_flattened_by_gymnasiums_rule():
    space = spaces.Dict({"signal": spaces.Discrete(3), "position": spaces.Box(-1, 1, (2,))})
    found = env_spaces(space, spaces.Discrete(3))
    assert found.obs_dim == 5 and found.obs_shape is None
    assert "Dict keys in sorted order" in found.observation
    # keys sorted: position, then signal one-hot
    row = policy_input(space, {"signal": 2, "position": np.array([0.5, -0.25], np.float32)})
    np.testing.assert_array_equal(row, [0.5, -0.25, 0.0, 0.0, 1.0])


def test_training_sees_the_same_flat_vector_as_float32(user_sim):
    env = flat_observations(EnvSpec("user_sim:Beacon").make())
    assert env.observation_space.shape == (5,) and env.observation_space.dtype == np.float32
    obs, _ = env.reset(seed=3)
    raw, _ = EnvSpec("user_sim:Beacon").make().reset(seed=3)
    np.testing.assert_array_equal(
        obs, policy_input(EnvSpec("user_sim:Beacon").make().observation_space, raw)
    )
    assert obs.dtype == np.float32


@pytest.mark.parametrize(
    ("observation", "fragment"),
    [
        (spaces.Text(5), "Text"),
        (spaces.Dict({"camera": spaces.Box(0, 255, (8, 8, 3), np.uint8)}), "image"),
        (spaces.Graph(spaces.Box(0, 1, (2,)), None), "Graph"),
    ],
)
def test_unsupported_observations_are_refused_saying_what_is_supported(observation, fragment):
    with pytest.raises(UnsupportedEnvError, match=fragment) as err:
        env_spaces(observation, spaces.Discrete(2))
    assert "Box (any shape)" in str(err.value)


def test_multi_discrete_actions_are_an_argmax_per_sub_action():
    space = ActionSpace("multi_discrete", nvec=(2, 3))
    assert space.width == 5 and space.output_name == "action_logits"
    logits = np.array([[0.1, 0.9, 3.0, -1.0, 2.0], [5.0, 1.0, 0.0, 0.0, 0.5]], np.float32)
    np.testing.assert_array_equal(space.actions(logits), [[1, 0], [0, 2]])
    assert ActionSpace.from_json(space.to_json()) == space


def test_normalization_is_mean_std_filters_formula():
    norm = ObsNormalization(mean=(1.0, -2.0), std=(2.0, 0.5), eps=0.0, clip=3.0)
    x = torch.tensor([[5.0, -2.0], [1.0, 10.0]])
    # (5 - 1) / 2 = 2; (-2 + 2) / 0.5 = 0; 0; (10 + 2) / 0.5 = 24, clipped to 3
    np.testing.assert_allclose(norm.apply(x).numpy(), [[2.0, 0.0], [0.0, 3.0]])


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc missing")
def test_the_exported_graph_and_c_normalize_raw_observations_themselves(tmp_path):
    torch.manual_seed(0)
    net = CompactMLP(12, [6], 5).eval()
    norm = ObsNormalization(tuple(np.linspace(-1, 1, 12)), tuple(np.linspace(0.5, 3, 12)), clip=2.0)
    found = env_spaces(spaces.Box(-9, 9, (3, 4), np.float32), spaces.MultiDiscrete([2, 3]))
    raw = np.random.default_rng(1).normal(0, 4, (64, 3, 4)).astype(np.float32)
    # by hand: normalize with numpy, clip, then the plain network on the flat rows
    by_hand = np.clip((raw.reshape(64, 12) - norm.mean) / (np.array(norm.std) + norm.eps), -2, 2)
    with torch.no_grad():
        expected = net(torch.from_numpy(by_hand.astype(np.float32))).numpy()
    with StagedPolicy(net, tmp_path / "policy", found, norm) as staged:
        graph = ort.InferenceSession(str(staged.folder / "policy.onnx"))
        assert graph.get_inputs()[0].shape[1:] == [3, 4]
        np.testing.assert_allclose(
            OnnxPolicy(staged.folder, found).outputs(raw), expected, atol=1e-5
        )
        with CPolicy(staged.folder / "c") as c:  # a bare c/ folder: policy.h alone says nvec
            assert c.spaces.action_space == found.action_space
            np.testing.assert_allclose(c.forward(raw), expected, atol=1e-5)
            np.testing.assert_array_equal(c.act(raw), found.action_space.actions(expected))

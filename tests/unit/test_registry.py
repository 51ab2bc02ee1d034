"""The best policy as a real MLflow Model in the registry (a real SQLite store, no Ray): the
compact_policy folder is an ONNX-flavour Model with a signature and an input example,
`mlflow.pyfunc.load_model("models:/...@best")` gives onnxruntime's outputs, registration is
idempotent and the alias moves only when the choice does; a folder that is not an MLflow Model
is refused in one line."""

import json

import gymnasium as gym
import mlflow.pyfunc
import numpy as np
import pytest
from mlflow.entities import Metric, Param

from rayprune.errors import ArtifactError
from rayprune.policy import OnnxPolicy, read_info
from rayprune.store.best import choose_best, register_best, staged_download
from rayprune.store.model import MODEL_FILE, add_model, example_observations
from rayprune.store.ranking import RULE
from rayprune.store.tracking import client_for, create_experiment
from tests.unit.policies import BOX, DISCRETE, make_policy

MODEL_FILES = {
    MODEL_FILE, "model.onnx", "conda.yaml", "python_env.yaml", "requirements.txt",
    "input_example.json", "serving_input_example.json",
}  # fmt: skip
POLICY_FILES = {"policy.onnx", "policy.safetensors", "compression.json"}  # and c/, if exported
OBS = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)


def test_a_compact_policy_folder_becomes_an_mlflow_model_that_predicts_like_onnxruntime(tmp_path):
    _, folder = make_policy(tmp_path, BOX)
    exported = {p.name for p in folder.iterdir()}
    assert POLICY_FILES <= exported
    add_model(folder)
    assert {p.name for p in folder.iterdir()} == exported | MODEL_FILES
    model = mlflow.pyfunc.load_model(str(folder))
    predicted = model.predict(OBS)
    assert list(predicted) == ["action_mean"]
    np.testing.assert_array_equal(predicted["action_mean"], OnnxPolicy(folder).outputs(OBS))
    signature = model.metadata.signature
    assert [(s.name, s.shape, str(s.type)) for s in signature.inputs.inputs] == [
        ("obs", (-1, 5), "float32")
    ]
    assert [(s.name, s.shape) for s in signature.outputs.inputs] == [("action_mean", (-1, 2))]
    example = np.asarray(json.loads((folder / "input_example.json").read_text()))
    assert example.shape == (2, 5)  # Test-v0 cannot be built here: zeros
    served = json.loads((folder / "serving_input_example.json").read_text())
    np.testing.assert_array_equal(served["inputs"], example)  # what /invocations takes
    assert read_info(folder).method == "dsp"  # still a compact policy, eval and all
    before = (folder / MODEL_FILE).read_bytes()
    add_model(folder)  # a model already: left as it is
    assert (folder / MODEL_FILE).read_bytes() == before


def test_the_input_example_is_the_environments_first_observations(tmp_path):
    _, folder = make_policy(tmp_path, DISCRETE)
    info = read_info(folder)
    assert not example_observations(info).any()  # Test-v0 does not exist: zeros
    cartpole = type(info)(**{**info.__dict__, "env": "CartPole-v1", "obs_dim": 4})
    env = gym.make("CartPole-v1")
    expected = [env.reset(seed=seed)[0] for seed in (0, 1)]
    np.testing.assert_array_equal(example_observations(cartpole), np.asarray(expected))


def log_trial_run(client, experiment, tmp_path, name, ret, lam, seed, model=True):
    """A finished DSP trial run with its compact_policy folder (an MLflow Model unless
    model=False)."""
    _, folder = make_policy(tmp_path / name, DISCRETE)
    if model:
        add_model(folder)
    run = client.create_run(experiment, run_name=name, tags={"rayprune.trial_key": name})
    rid = run.info.run_id
    params = {"method": "dsp", "lambda": lam, "sparsity_target": 0.5, "seed": seed}
    client.log_batch(
        rid,
        params=[Param(k, str(v)) for k, v in {**params, "env": "Test-v0"}.items()],
        metrics=[
            Metric(k, v, 0, 3)
            for k, v in {
                "eval_return_mean": ret,
                "eval_return_std": 2.0,
                "target_reached": 1.0,
                "weights_compact": 393.0,
                "flops_compact": 800.0,
                "compression_ratio": 3.26,
                "weights_removed": 0.69,
                "train/episode_return_mean": ret,
            }.items()
        ],  # fmt: skip
    )
    client.log_artifacts(rid, str(folder), "compact_policy")
    client.set_terminated(rid, "FINISHED")
    return rid, folder


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # what models:/ URIs resolve against
    experiment = create_experiment(uri, "s", (tmp_path / "art").as_uri())
    return uri, client_for(uri), experiment


def test_best_registers_a_run_once_and_moves_the_alias_only_when_the_choice_changes(
    store, tmp_path
):
    uri, client, experiment = store
    first, _ = log_trial_run(client, experiment, tmp_path, "dsp l1e-4 s0.5 #0", 480.0, 1e-4, 0)
    choice = choose_best(uri, "s")
    assert choice.run_id == first and choice.tie_note is None
    registered = register_best(uri, "rayprune-s", choice)
    assert (registered.version, registered.new_version, registered.previous) == ("1", True, None)

    again = register_best(uri, "rayprune-s", choose_best(uri, "s"))
    assert (again.version, again.new_version, again.moved) == ("1", False, False)
    assert len(client.search_model_versions("name = 'rayprune-s'")) == 1

    version = client.get_model_version("rayprune-s", "1")
    assert version.tags == {
        "rayprune.sweep": "s", "env": "Test-v0", "method": "dsp", "lambda": "0.0001",
        "sparsity_target": "0.5", "eval_return_mean": "480.00", "weights_compact": "393",
        "flops_compact": "800",
    }  # fmt: skip
    assert "dsp l1e-4 s0.5 #0" in version.description and RULE in version.description
    assert "480.00 ± 2.00" in version.description and "3x fewer" in version.description

    better, folder = log_trial_run(
        client, experiment, tmp_path, "dsp l1e-3 s0.5 #1", 490.0, 1e-3, 1
    )
    moved = register_best(uri, "rayprune-s", choose_best(uri, "s"))
    assert (moved.version, moved.new_version, moved.previous, moved.moved) == ("2", True, "1", True)
    assert client.get_model_version_by_alias("rayprune-s", "best").run_id == better

    model = mlflow.pyfunc.load_model("models:/rayprune-s@best")
    obs = OBS[:3]
    np.testing.assert_array_equal(
        model.predict(obs)["action_logits"], OnnxPolicy(folder).outputs(obs)
    )


def test_a_folder_that_is_not_an_mlflow_model_is_refused_before_the_registry(store, tmp_path):
    uri, client, experiment = store
    log_trial_run(client, experiment, tmp_path, "plain", 450.0, 1e-4, 0, model=False)
    choice = choose_best(uri, "s")
    out = tmp_path / "out"
    with pytest.raises(ArtifactError, match="not an MLflow Model"):
        with staged_download(uri, choice, out):
            register_best(uri, "rayprune-s", choice)
    assert client.search_registered_models() == [] and not out.exists()


def test_compression_json_says_the_weights_removed_and_the_ratio(tmp_path):
    """make_policy's actor: 5-32-32-3 with 11 and 20 neurons masked; 1,280 dense weights, the
    compact 5-21-12-3 has 5*21 + 21*12 + 12*3 = 393. A file without weights_removed is
    incomplete."""
    _, folder = make_policy(tmp_path, DISCRETE)
    info = read_info(folder)
    assert (info.weights_dense, info.weights_compact) == (1280, 393)
    assert info.weights_removed == pytest.approx(1 - 393 / 1280)
    assert info.compression_ratio == pytest.approx(1280 / 393)
    raw = json.loads((folder / "compression.json").read_text())
    del raw["weights_removed"]
    (folder / "compression.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="incomplete: missing 'weights_removed'"):
        read_info(folder)

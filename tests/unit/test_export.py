import json
import os
import stat

import numpy as np
import pytest
import torch

from rayprune.policy import (
    INFO_FILE,
    ONNX_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    OnnxPolicy,
    export_compact_policy,
    load_compact_policy,
    read_info,
)
from tests.unit.policies import BOX, DISCRETE, make_policy


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("batch", [1, 37, 4096])
def test_onnx_equals_torch(tmp_path, activation, batch):
    mlp, folder = make_policy(tmp_path, DISCRETE, activation)
    obs = np.random.default_rng(batch).normal(size=(batch, 5)).astype(np.float32)
    with torch.no_grad():
        expected = mlp(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(OnnxPolicy(folder).outputs(obs), expected, rtol=1e-5, atol=1e-5)


def test_graph_names_and_dynamic_batch(tmp_path):
    import onnx

    _, folder = make_policy(tmp_path, BOX)
    model = onnx.load(str(folder / ONNX_FILE))
    assert [i.name for i in model.graph.input] == ["obs"]
    assert [o.name for o in model.graph.output] == ["action_mean"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert sorted(p.name for p in folder.iterdir()) == ["c", INFO_FILE, ONNX_FILE, WEIGHTS_FILE]


def test_safetensors_loader_rebuilds_the_compact_module(tmp_path):
    mlp, folder = make_policy(tmp_path, DISCRETE)
    net, info = load_compact_policy(folder)
    assert net.hidden_sizes == info.hidden_compact == [21, 12]
    x = torch.randn(50, 5)
    with torch.no_grad():
        assert torch.allclose(net(x), mlp(x), atol=1e-6)


def test_continuous_actions_are_clipped_to_bounds(tmp_path):
    _, folder = make_policy(tmp_path, BOX)
    policy = OnnxPolicy(folder)
    obs = np.random.default_rng(0).normal(size=(500, 5)).astype(np.float32) * 50
    actions = policy.act(obs)
    assert np.all(actions >= [-1, -2]) and np.all(actions <= [1, 2])
    assert np.allclose(actions, np.clip(policy.outputs(obs), [-1, -2], [1, 2]))


def test_exported_files_have_ordinary_permissions(tmp_path):
    _, folder = make_policy(tmp_path, DISCRETE)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o666 & ~umask}
    assert stat.S_IMODE((folder / "c").stat().st_mode) == 0o777 & ~umask


def test_export_refuses_to_overwrite(tmp_path):
    make_policy(tmp_path, DISCRETE)
    before = (tmp_path / "compact_policy" / INFO_FILE).read_text()
    with pytest.raises(FileExistsError):
        make_policy(tmp_path, DISCRETE)
    assert (tmp_path / "compact_policy" / INFO_FILE).read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["compact_policy"]  # no temp folder left


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    _, folder = make_policy(tmp_path, DISCRETE, name="a")
    net, info = load_compact_policy(folder)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rayprune.policy.artifact.write_info", disk_full)
    with pytest.raises(OSError):
        export_compact_policy(net, tmp_path / "b", info)
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda f: (f / INFO_FILE).write_text("{not json"),
        lambda f: (f / INFO_FILE).write_text(json.dumps({"env": "x"})),
        lambda f: (f / INFO_FILE).unlink(),
        lambda f: (f / WEIGHTS_FILE).write_bytes(b"\x00garbage"),
    ],
)
def test_corrupt_folder_gives_artifact_error(tmp_path, corrupt):
    _, folder = make_policy(tmp_path, DISCRETE)
    corrupt(folder)
    with pytest.raises(ArtifactError):
        load_compact_policy(folder)


def test_corrupt_onnx_gives_artifact_error(tmp_path):
    _, folder = make_policy(tmp_path, DISCRETE)
    (folder / ONNX_FILE).write_bytes(b"not a graph")
    with pytest.raises(ArtifactError):
        OnnxPolicy(folder)
    assert read_info(folder).method == "dsp"


def test_low_rank_policy_exports_and_loads(tmp_path):
    net, folder = make_policy(tmp_path, DISCRETE, energy=0.5)
    assert any(r is not None for r in net.ranks)
    obs = np.random.default_rng(1).normal(size=(64, 5)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(OnnxPolicy(folder).outputs(obs), expected, rtol=1e-5, atol=1e-5)
    loaded, info = load_compact_policy(folder)
    assert loaded.ranks == info.ranks == net.ranks
    with torch.no_grad():
        assert torch.allclose(loaded(torch.from_numpy(obs)), torch.from_numpy(expected), atol=1e-6)

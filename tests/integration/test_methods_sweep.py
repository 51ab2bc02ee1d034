"""Every method through `rayprune sweep`, once per action-space type: each trial reaches its
sparsity target in its own unit and exports a compact policy that was evaluated."""

import json

import pytest

from tests.cli import rayprune
from tests.integration.sweeps import runs_of, write_config

pytestmark = pytest.mark.integration

ALL_METHODS = ["ppo", "dsp", "ssl", "dropout", "l1", "pops", "sgs", "l0"]
WEIGHT_UNIT = {"l1", "pops"}


@pytest.mark.parametrize(
    "env,pruning",
    [
        # neuron gates for L0, PoPS with distillation from the teacher frozen at iteration 1
        ("CartPole-v1", {"start_iter": 1, "end_iter": 3, "distill_coeff": 0.5}),
        # weight gates for L0, plain dropout in the updates
        ("Pendulum-v1", {"start_iter": 1, "end_iter": 3, "gates": "weight", "dropout_rate": 0.1}),
    ],
)
def test_every_method_reaches_its_target_and_exports(tmp_path, env, pruning):
    name = env.split("-")[0].lower()
    config = write_config(
        tmp_path,
        name=name,
        env=env,
        pruning=pruning,
        grid={"method": ALL_METHODS, "lambda": [1e-3], "sparsity_target": [0.75], "seed": [0]},
    )
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client, runs = runs_of(tmp_path / "rayprune_results", name)
    by_method = {r.data.params["method"]: r for r in runs}
    assert sorted(by_method) == sorted(ALL_METHODS) and len(runs) == len(ALL_METHODS)
    for method, run in by_method.items():
        assert run.info.status == "FINISHED", method
        metrics = run.data.metrics
        assert metrics["target_reached"] == 1.0, method
        assert "eval_return_mean" in metrics and "flops_compact" in metrics, method
        info = json.loads(
            (
                tmp_path
                / client.download_artifacts(run.info.run_id, "compact_policy/compression.json")
            ).read_text()
        )
        assert info["method"] == method
        if method == "ppo":
            assert info["weights_compact"] == info["weights_dense"]
        elif method in WEIGHT_UNIT or (method == "l0" and pruning.get("gates") == "weight"):
            assert info["sparsity_unit"] == "weights" and info["weight_sparsity"] >= 0.74
        else:
            assert info["sparsity_unit"] == "neurons" and info["neurons_compact"] < 48
        if method == "sgs":  # the first layer alone is pruned
            assert info["hidden_compact"][0] <= 4 and info["hidden_compact"][1] == 16
        if method == "l0":
            assert info["params_after_lowrank"] == info["weights_compact"]
            assert info["weights_removed"] == pytest.approx(
                1 - info["weights_compact"] / info["weights_dense"]
            )
            assert info["compression_ratio"] == pytest.approx(
                info["weights_dense"] / info["weights_compact"]
            )
    l0 = by_method["l0"]
    out = tmp_path / "l0_policy"
    client.download_artifacts(l0.info.run_id, "compact_policy", str(tmp_path))
    (tmp_path / "compact_policy").rename(out)
    proc = rayprune("eval", out, "--episodes", "2", cwd=tmp_path)
    assert proc.returncode == 0 and f"over 2 episodes on {env}" in proc.stdout, proc.stderr


def test_unknown_method_is_a_one_line_error(tmp_path):
    config = write_config(tmp_path, grid={"method": ["dsp", "magic"]})
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 2 and "unknown method" in proc.stderr
    assert not (tmp_path / "rayprune_results").exists()

"""Trial runs written straight into an MLflow store, as the trainable leaves them, for the tests
that read a sweep without running one (report, robustness)."""

import json
import math
import shutil
import tempfile
from pathlib import Path

from mlflow.entities import Metric, Param
from safetensors.torch import save_file

from rayprune.names import TRIAL_KEY_TAG
from rayprune.policy import PolicyInfo, export_compact_policy
from rayprune.pruning import CompactMLP
from rayprune.store.model import add_model

HIDDEN = [8, 8]


def log_trial(client, exp_id, point, ret, search="grid", budget=2000, graph=False):
    """A FINISHED trial run as the trainable leaves it: params, curves, final metrics and a
    compact_policy folder (compression.json + policy.safetensors; graph: exported whole, ONNX
    graph included, and made an MLflow Model, as `best` needs it)."""
    name = f"{point['method']}-{point['lambda']:g}-{point['sparsity_target']:g}-seed{point['seed']}"
    run = client.create_run(
        exp_id, run_name=name, tags={TRIAL_KEY_TAG: name, "rayprune.sweep": "tiny"}
    )
    rid = run.info.run_id
    params = {
        **point, "name": client.get_experiment(exp_id).name, "env": "CartPole-v1",
        "search.kind": search, "model.hidden": str(HIDDEN), "budget_env_steps": budget,
    }  # fmt: skip
    client.log_batch(rid, params=[Param(k, str(v)) for k, v in params.items()])
    kept = [max(1, round(n * (1 - point["sparsity_target"]))) for n in HIDDEN]
    metrics = []
    for step in range(1, 5):  # curves against env steps, 500 per iteration
        frac = min(1.0, step / 3)
        row = {
            "episode_return_mean": math.nan if step == 1 else ret * step / 4,
            "sparsity_target_now": point["sparsity_target"] * frac,
            **{f"neurons_l{i}": n - (n - k) * frac for i, (n, k) in enumerate(zip(HIDDEN, kept))},
        }
        metrics += [Metric("train/" + k, v, 0, 500 * step) for k, v in row.items()]
    weights = 4 * kept[0] + kept[0] * kept[1] + 2 * kept[1]
    size = {"weights_removed": 1 - weights / 112, "compression_ratio": 112 / weights}
    final = {
        "eval_return_mean": ret, "eval_return_std": 1.0, "target_reached": 1.0,
        "neurons_compact": sum(kept), "weights_compact": weights, "flops_compact": 100.0, **size,
    }  # fmt: skip
    metrics += [Metric(k, v, 0, 0) for k, v in final.items()]
    client.log_batch(rid, metrics=metrics)
    policy = Path(tempfile.mkdtemp()) / "compact_policy"
    net = CompactMLP(4, kept, 2)
    info = {
        "env": "CartPole-v1", "method": point["method"], "lambda": point["lambda"],
        "sparsity_target": point["sparsity_target"], "reading": "rank", "scope": "layer",
        "seed": point["seed"], "obs_dim": 4, "action_space": {"type": "discrete", "n": 2},
        "activation": "tanh", "hidden_dense": HIDDEN, "hidden_compact": kept, "ranks": [None] * 3,
        "neurons_dense": 16, "neurons_compact": sum(kept), "weights_dense": 112,
        "weights_compact": final["weights_compact"], "flops_dense": 200, "flops_compact": 100,
        "eval_return_mean": ret, "eval_return_std": 1.0, "eval_episodes": 3,
        "sparsity_unit": "neurons", "neurons_dead": 0, "sparsity": 1 - sum(kept) / 16,
        "weight_sparsity": 0.5, **size, "target_reached": True, "dtype": "float32",
        "c_code_bytes": 1000, "environment": {},
    }  # fmt: skip
    if graph:
        export_compact_policy(net, policy, PolicyInfo.from_json(info))
        add_model(policy)  # as a trial logs it: an MLflow Model
    else:
        policy.mkdir()
        state = {k: v.contiguous() for k, v in net.state_dict().items()}
        save_file(state, str(policy / "policy.safetensors"))
        (policy / "compression.json").write_text(json.dumps(info))
    client.log_artifacts(rid, str(policy), "compact_policy")
    shutil.rmtree(policy.parent)
    client.set_terminated(rid, "FINISHED")
    return rid

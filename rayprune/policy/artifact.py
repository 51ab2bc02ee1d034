"""The `compact_policy/` folder: ONNX graph, safetensors weights and compression.json.

Nothing here unpickles: weights load with safetensors and the graph with onnxruntime.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rayprune.pruning import CompactMLP

ARTIFACT_DIR = "compact_policy"
ONNX_FILE = "policy.onnx"
WEIGHTS_FILE = "policy.safetensors"
INFO_FILE = "compression.json"
INPUT_NAME = "obs"

REQUIRED_INFO = (
    "env", "method", "lambda", "sparsity_target", "reading", "scope", "seed", "obs_dim",
    "action_space", "activation", "hidden_dense", "hidden_compact", "neurons_dense",
    "neurons_compact", "weights_dense", "weights_compact", "flops_dense", "flops_compact",
    "eval_return_mean", "eval_return_std", "eval_episodes",
)  # fmt: skip


class ArtifactError(ValueError):
    """A compact_policy folder that is missing, incomplete or corrupt."""


def output_name(action_space: dict[str, Any]) -> str:
    return "action_logits" if action_space["type"] == "discrete" else "action_mean"


def export_compact_policy(net: CompactMLP, out_dir: Path, info: dict[str, Any]) -> Path:
    """Write the folder atomically: it appears whole under out_dir or not at all."""
    missing = [key for key in REQUIRED_INFO if key not in info]
    if missing:
        raise ValueError(f"compression info lacks {missing}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists; refusing to overwrite it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_onnx(net, tmp / ONNX_FILE, info["obs_dim"], output_name(info["action_space"]))
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp / WEIGHTS_FILE))
        write_info(tmp, info)
        apply_umask(tmp)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def apply_umask(folder: Path) -> None:
    """Give a folder made private by mkdtemp (0700, some files 0600) the modes a plain
    mkdir and open would have, so a downloaded policy is readable like any other file."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def write_info(policy_dir: Path, info: dict[str, Any]) -> None:
    """Replace compression.json atomically."""
    path = Path(policy_dir) / INFO_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _write_onnx(net: CompactMLP, path: Path, obs_dim: int, output: str) -> None:
    example = torch.zeros(2, obs_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[output],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def read_info(policy_dir: Path) -> dict[str, Any]:
    """compression.json, checked for the keys every consumer relies on."""
    path = Path(policy_dir) / INFO_FILE
    if not path.is_file():
        raise ArtifactError(f"{policy_dir} is not a compact policy: {INFO_FILE} is missing")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path} is corrupt: {err}") from None
    missing = [key for key in REQUIRED_INFO if key not in info] if isinstance(info, dict) else ["*"]
    if missing:
        raise ArtifactError(f"{path} is incomplete: missing {missing}")
    return info


def load_compact_policy(policy_dir: Path) -> tuple[CompactMLP, dict[str, Any]]:
    """Rebuild the compact torch module from policy.safetensors and compression.json."""
    info = read_info(policy_dir)
    path = Path(policy_dir) / WEIGHTS_FILE
    try:
        state = load_file(str(path))
    except (SafetensorError, FileNotFoundError, OSError) as err:
        raise ArtifactError(f"cannot read {path}: {err}") from None
    ranks = info.get("ranks")  # low-rank layers (L0); absent or all None: full rank
    head = "head.weight" if not ranks or ranks[-1] is None else "head.up.weight"
    out_dim = state[head].shape[0] if head in state else -1
    net = CompactMLP(info["obs_dim"], info["hidden_compact"], out_dim, info["activation"], ranks)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ArtifactError(f"{path} does not match compression.json: {err}") from None
    return net.eval(), info

"""A compact policy folder as an MLflow Model: MLflow's ONNX flavour over its graph, with a
signature (observations in, the policy's outputs out) and an input example, written into the
compact_policy folder itself. So the folder a trial logs, the version `best` registers and the
folder it downloads are one thing: `rayprune eval` runs it, `mlflow.pyfunc.load_model` loads it,
`mlflow models serve` serves it, and compression.json, policy.safetensors and the C export
(`c/`, when there is one) travel inside it.

The flavour keeps its own copy of the graph, model.onnx (MLflow's fixed name), beside
policy.onnx: the same graph, a few KB."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow.onnx
import numpy as np
import onnx
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

from rayprune.errors import ArtifactError, UnsupportedEnvError
from rayprune.policy import ONNX_FILE, PolicyInfo, read_info
from rayprune.policy.artifact import INPUT_NAME
from rayprune.policy.spaces import make_env, policy_input

MODEL_FILE = "MLmodel"  # what makes a folder an MLflow Model
EXAMPLE_ROWS = 2


def signature(info: PolicyInfo) -> ModelSignature:
    """float32 observations [batch, *obs_shape] in; the policy's float32 output [batch, width]
    (action logits, or the action mean) out, under the graph's own names."""
    space, shape = info.action_space, info.spaces.input_shape
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *shape), INPUT_NAME)]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, space.width), space.output_name)]),
    )


def example_observations(info: PolicyInfo) -> np.ndarray:
    """First observations of the policy's environment (seeds 0, 1, ...), or zeros where the
    environment cannot be built here (its package is missing on this machine)."""
    shape = (EXAMPLE_ROWS, *info.spaces.input_shape)
    try:
        env = make_env(info.env_spec)
    except UnsupportedEnvError:
        return np.zeros(shape, dtype=np.float32)
    try:
        space = env.observation_space
        rows = [policy_input(space, env.reset(seed=seed)[0]) for seed in range(EXAMPLE_ROWS)]
    finally:
        env.close()
    return np.asarray(rows, dtype=np.float32).reshape(shape)


def add_model(policy_dir: Path) -> None:
    """Write the MLflow Model files into a compact_policy folder (it must have its
    compression.json); a folder that is a model already is left as it is."""
    policy_dir = Path(policy_dir)
    if (policy_dir / MODEL_FILE).exists():
        return
    info = read_info(policy_dir)
    if not (policy_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{policy_dir} has no {ONNX_FILE}: it cannot be an MLflow Model")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model"
        mlflow.onnx.save_model(
            onnx.load(str(policy_dir / ONNX_FILE)),
            str(staged),
            signature=signature(info),
            input_example=example_observations(info),
            # listed, not inferred: inference loads the model in a subprocess, seconds per trial
            pip_requirements=mlflow.onnx.get_default_pip_requirements(),
            onnx_execution_providers=["CPUExecutionProvider"],
            save_as_external_data=False,
        )
        for item in staged.iterdir():
            item.rename(policy_dir / item.name)

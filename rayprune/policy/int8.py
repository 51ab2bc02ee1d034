"""`rayprune export`: a compact policy folder's int8 twin, calibrated on real episodes,
evaluated where it runs, written whole or not at all.

For --target c the network becomes integer-only int8 (quantize.py: int8 weights and
activations, int32 accumulators, activation tables; float only at the input and output edges);
for --target onnx, ONNX Runtime's dynamic quantizer rewrites policy.onnx. The calibration
observations are those the float policy meets in its own episodes (seeds apart from the
evaluation's). The twin is
evaluated on the episodes the trial evaluated the float policy on, so the two returns compare.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from rayprune.errors import ArtifactError
from rayprune.policy.artifact import ONNX_FILE, WEIGHTS_FILE, StagedFolder, load_compact_policy
from rayprune.policy.c_export import C_DIR, code_size, write_c_policy
from rayprune.policy.c_runtime import CPolicy
from rayprune.policy.info import PolicyInfo, write_info
from rayprune.policy.quantize import quantize_int8
from rayprune.policy.runtime import OnnxPolicy, Policy, eval_seed, evaluate

Runtime = Literal["c", "onnx"]
Dtype = Literal["int8"]
CALIBRATION_SEED = 20_000  # apart from training's seeds and the evaluation's (eval_seed)


def calibration_observations(policy_dir: Path, info: PolicyInfo, episodes: int) -> np.ndarray:
    """The policy's inputs on real episodes, flattened rows of raw observations (the int8
    network normalizes them itself, as the float one does)."""
    seen: list[np.ndarray] = []
    evaluate(OnnxPolicy(policy_dir), info.env_spec, episodes, seed=CALIBRATION_SEED, seen=seen)
    return np.stack(seen).reshape(len(seen), -1).astype(np.float32)


def export_policy(
    src: Path, out: Path, runtime: Runtime, dtype: Dtype, calibration_episodes: int
) -> PolicyInfo:
    """Write `out`: src's folder with `dtype` weights for `runtime` (c/ for "c", policy.onnx for
    "onnx"; the other keeps src's float32) and a compression.json saying so, with the exported
    policy's eval return beside the one src recorded."""
    net, info = load_compact_policy(src)
    if info.dtype != "float32":
        raise ArtifactError(f"{src} is already {info.dtype}: export from the float32 policy")
    calibration = calibration_observations(src, info, calibration_episodes)
    with StagedFolder(out) as staged:
        for name in (ONNX_FILE, WEIGHTS_FILE):
            shutil.copy2(Path(src) / name, staged.folder / name)
        int8_c = quantize_int8(net, calibration, info.normalization) if runtime == "c" else None
        write_c_policy(net, info.action_space, staged.folder / C_DIR, int8_c, info.normalization)
        if runtime == "onnx":
            quantize_onnx(Path(src) / ONNX_FILE, staged.folder / ONNX_FILE)
        result = evaluate(
            _runtime_policy(staged.folder, info, runtime),
            info.env_spec,
            info.eval_episodes,
            eval_seed(info.seed),
        )
        exported = dataclasses.replace(
            info,
            dtype=dtype,
            quantized_runtime=runtime,
            c_code_bytes=code_size(staged.folder / C_DIR),
            eval_return_mean=result.mean,
            eval_return_std=result.std,
            float_eval_return_mean=info.eval_return_mean,
        )
        write_info(staged.folder, exported)
        staged.publish()
    return exported


def _runtime_policy(folder: Path, info: PolicyInfo, runtime: Runtime) -> Policy:
    if runtime == "c":
        return CPolicy(folder)
    return OnnxPolicy(folder, info.spaces)


def quantize_onnx(src: Path, out: Path) -> None:
    """ONNX Runtime's own weight quantization (dynamic: int8 weights per output channel,
    activations quantized on the fly), when a runtime with it is what the device runs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # it logs advice about shape inference for vision models through the root logger
    with _root_logging_at(logging.ERROR):
        quantize_dynamic(str(src), str(out), per_channel=True, weight_type=QuantType.QInt8)


@contextlib.contextmanager
def _root_logging_at(level: int) -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(saved)

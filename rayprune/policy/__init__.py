"""The deployable artifact: export, pickle-free loading and onnxruntime evaluation."""

from rayprune.policy.artifact import (
    ARTIFACT_DIR,
    INFO_FILE,
    ONNX_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    export_compact_policy,
    load_compact_policy,
    read_info,
)
from rayprune.policy.runtime import EvalResult, OnnxPolicy, evaluate
from rayprune.policy.spaces import (
    UnsupportedEnvError,
    action_dim,
    check_env,
    describe_action_space,
    obs_dim,
)

__all__ = [
    "ARTIFACT_DIR",
    "INFO_FILE",
    "ONNX_FILE",
    "WEIGHTS_FILE",
    "ArtifactError",
    "EvalResult",
    "OnnxPolicy",
    "UnsupportedEnvError",
    "action_dim",
    "check_env",
    "describe_action_space",
    "obs_dim",
    "evaluate",
    "export_compact_policy",
    "load_compact_policy",
    "read_info",
]

"""The deployable artifact: export, pickle-free loading and onnxruntime evaluation."""

from rayprune.errors import ArtifactError, UnsupportedEnvError
from rayprune.policy.artifact import (
    ARTIFACT_DIR,
    ONNX_FILE,
    WEIGHTS_FILE,
    StagedPolicy,
    apply_umask,
    export_compact_policy,
    load_compact_policy,
)
from rayprune.policy.describe import describe_policy
from rayprune.policy.info import INFO_FILE, PolicyInfo, read_info
from rayprune.policy.runtime import EvalResult, OnnxPolicy, evaluate
from rayprune.policy.spaces import (
    ActionSpace,
    EnvSpaces,
    check_env,
    describe_action_space,
    env_spaces,
    obs_dim,
)

__all__ = [
    "ARTIFACT_DIR",
    "INFO_FILE",
    "ONNX_FILE",
    "WEIGHTS_FILE",
    "ActionSpace",
    "ArtifactError",
    "EnvSpaces",
    "EvalResult",
    "OnnxPolicy",
    "PolicyInfo",
    "StagedPolicy",
    "UnsupportedEnvError",
    "apply_umask",
    "check_env",
    "describe_action_space",
    "describe_policy",
    "env_spaces",
    "evaluate",
    "export_compact_policy",
    "load_compact_policy",
    "obs_dim",
    "read_info",
]

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
from rayprune.policy.envs import EnvSpec, WrapperSpec
from rayprune.policy.info import INFO_FILE, PolicyInfo, read_info
from rayprune.policy.normalization import ObsNormalization
from rayprune.policy.runtime import (
    EvalResult,
    OnnxPolicy,
    RandomPolicy,
    eval_seed,
    evaluate,
    random_return,
)
from rayprune.policy.spaces import (
    ActionSpace,
    EnvSpaces,
    as_spec,
    check_env,
    describe_action_space,
    env_spaces,
    flat_observations,
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
    "EnvSpec",
    "EvalResult",
    "ObsNormalization",
    "OnnxPolicy",
    "PolicyInfo",
    "RandomPolicy",
    "StagedPolicy",
    "UnsupportedEnvError",
    "WrapperSpec",
    "apply_umask",
    "as_spec",
    "check_env",
    "describe_action_space",
    "describe_policy",
    "env_spaces",
    "eval_seed",
    "evaluate",
    "export_compact_policy",
    "flat_observations",
    "load_compact_policy",
    "obs_dim",
    "random_return",
    "read_info",
]

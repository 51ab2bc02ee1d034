"""The `compact_policy/` folder: ONNX graph, safetensors weights, the C source (c/) and
compression.json.

Nothing here unpickles: weights load with safetensors and the graph with onnxruntime. A folder
is staged beside its target and appears there whole, with its compression.json written once.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from rayprune.errors import AlreadyExists, ArtifactError
from rayprune.policy.c_export import C_DIR, write_c_policy
from rayprune.policy.info import PolicyInfo, read_info, write_info
from rayprune.policy.normalization import ObsNormalization
from rayprune.policy.spaces import EnvSpaces
from rayprune.policy.staging import close_staging, open_staging
from rayprune.pruning import CompactMLP

ARTIFACT_DIR = "compact_policy"
ONNX_FILE = "policy.onnx"
WEIGHTS_FILE = "policy.safetensors"
INPUT_NAME = "obs"


class StagedFolder:
    """A private folder beside `out_dir` to write into; publish() moves it into place whole.
    Leaving the block without publishing removes it: never a half-written folder. One that a
    killed process left for the same `out_dir` is removed on entry (rayprune/policy/staging.py)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.folder: Path | None = None
        self._lock: int | None = None

    def __enter__(self) -> StagedFolder:
        refuse_existing(self.out_dir)
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.folder, self._lock = open_staging(self.out_dir)
        return self

    def publish(self) -> Path:
        apply_umask(self.folder)
        refuse_existing(self.out_dir)
        os.replace(self.folder, self.out_dir)
        self.folder = None
        return self.out_dir

    def __exit__(self, *exc: object) -> None:
        folder, lock, self.folder, self._lock = self.folder, self._lock, None, None
        close_staging(folder, lock)  # the folder, unless published; then its lock


class StagedPolicy:
    """The graph, weights and C source of `net`, staged, to be evaluated before
    compression.json exists; publish(info) writes it and moves the folder into place. With
    `normalization`, the graph and the C normalize raw observations themselves."""

    def __init__(
        self,
        net: CompactMLP,
        out_dir: Path,
        spaces: EnvSpaces,
        normalization: ObsNormalization | None = None,
    ) -> None:
        self.net, self.spaces, self.normalization = net, spaces, normalization
        self.staged = StagedFolder(out_dir)

    @property
    def folder(self) -> Path:
        return self.staged.folder

    def __enter__(self) -> StagedPolicy:
        self.staged.__enter__()
        try:
            graph = PolicyGraph(self.net, self.normalization)
            _write_onnx(graph, self.folder / ONNX_FILE, self.spaces)
            state = {k: v.contiguous() for k, v in self.net.state_dict().items()}
            save_file(state, str(self.folder / WEIGHTS_FILE))
            c_dir = self.folder / C_DIR
            write_c_policy(self.net, self.spaces.action_space, c_dir, None, self.normalization)
        except BaseException:
            self.staged.__exit__()
            raise
        return self

    def publish(self, info: PolicyInfo) -> Path:
        write_info(self.folder, info)
        return self.staged.publish()

    def __exit__(self, *exc: object) -> None:
        self.staged.__exit__(*exc)


def export_compact_policy(net: CompactMLP, out_dir: Path, info: PolicyInfo) -> Path:
    """Write the folder atomically: it appears whole under out_dir or not at all."""
    with StagedPolicy(net, out_dir, info.spaces, info.normalization) as staged:
        return staged.publish(info)


def refuse_existing(out_dir: Path) -> None:
    if out_dir.exists():
        raise AlreadyExists(f"{out_dir} exists; refusing to overwrite it")


def apply_umask(folder: Path) -> None:
    """Give a folder made private by mkdtemp (0700, some files 0600) the modes a plain
    mkdir and open would have, so a downloaded policy is readable like any other file."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


class PolicyGraph(nn.Module):
    """What policy.onnx computes: observations in the environment's own shape [batch,
    *obs_shape], flattened row-major (the actor trained on them flattened), normalized as in
    training where they were, then the compact network."""

    def __init__(self, net: CompactMLP, normalization: ObsNormalization | None) -> None:
        super().__init__()
        self.net, self.normalization = net, normalization

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(obs, 1)
        if self.normalization is not None:
            x = self.normalization.apply(x)
        return self.net(x)


def _write_onnx(graph: PolicyGraph, path: Path, spaces: EnvSpaces) -> None:
    example = torch.zeros(2, *spaces.input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph.eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[spaces.action_space.output_name],
            dynamic_shapes={"obs": {0: torch.export.Dim("batch")}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def load_compact_policy(policy_dir: Path) -> tuple[CompactMLP, PolicyInfo]:
    """Rebuild the compact torch module from policy.safetensors and compression.json."""
    info = read_info(policy_dir)
    path = Path(policy_dir) / WEIGHTS_FILE
    try:
        state = load_file(str(path))
    except (SafetensorError, FileNotFoundError, OSError) as err:
        raise ArtifactError(f"cannot read {path}: {err}") from None
    net = CompactMLP(
        info.obs_dim, info.hidden_compact, info.action_space.width, info.activation, info.ranks
    )
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ArtifactError(f"{path} does not match compression.json: {err}") from None
    return net.eval(), info

"""A staging folder that a killed process left beside --out is removed by the next command that
stages for the same --out; a live one's never is. The leftovers are made as a killed `best` or
`export` leaves them: a real process stages (the code `best` and `export` run), is SIGKILLed
while it holds its folder, and is reaped; then the real command runs."""

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EvalResult,
    describe_policy,
    export_compact_policy,
    read_info,
)
from rayprune.policy.artifact import StagedFolder
from rayprune.policy.staging import MARK, close_staging, open_staging, remove_abandoned
from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, compact
from tests.cli import REPO, rayprune

# What `rayprune export` runs (int8.export_policy writes through a StagedFolder), paused where
# the folder holds a half-written file.
EXPORT_STAGING = """
import sys, time
from pathlib import Path
from rayprune.policy.artifact import StagedFolder
with StagedFolder(Path(sys.argv[1])) as staged:
    (staged.folder / "policy.onnx").write_bytes(b"half")
    print(staged.folder, flush=True)
    time.sleep(600)
"""
# What `rayprune best` runs, paused after the download, before the folder takes out's place.
BEST_STAGING = """
import sys, time
from pathlib import Path
from rayprune.store.best import choose_best, staged_download
uri, out = sys.argv[1], Path(sys.argv[2])
with staged_download(uri, choose_best(uri, "tiny"), out) as local:
    print(local.parent, flush=True)
    time.sleep(600)
"""


class Holder:
    """A real process that stages for `out` and holds its folder until killed."""

    def __init__(self, code: str, *args) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        line = self.proc.stdout.readline().strip()
        assert line, f"the staging process ended (code {self.proc.wait()})"
        self.folder = Path(line)
        assert self.folder.is_dir()

    def kill(self) -> None:
        """SIGKILL, then reaped: what a killed `rayprune` leaves, its folder included."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def staging_leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.mark.slow
def test_the_next_best_removes_what_a_killed_best_left_and_succeeds(tmp_path, one_sweep_store):
    uri, _ = one_sweep_store
    out = tmp_path / "best_policy"
    holder = Holder(BEST_STAGING, uri, out)
    try:
        assert (holder.folder / "compact_policy" / "compression.json").is_file()
    finally:
        holder.kill()
    assert holder.folder.is_dir() and not out.exists()  # what SIGKILL leaves
    proc = rayprune("best", "tiny", "--tracking-uri", uri, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_info(out).method == "dsp"
    assert not holder.folder.exists() and staging_leftovers(out) == []


def cartpole_policy(folder: Path) -> Path:
    torch.manual_seed(3)
    mlp = MaskedMLP(4, [16, 16], 2)
    mlp.hidden[0].mask[:4] = 0
    net = compact(mlp)
    spec = PruningSpec("dsp", 1e-4, PruningSchedule(0.25, 1, 2))
    spaces = EnvSpaces(4, ActionSpace("discrete", n=2))
    info = describe_policy(mlp, net, spec, "CartPole-v1", spaces, EvalResult([9.0] * 5))
    return export_compact_policy(net, folder / "compact_policy", info)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.slow
def test_the_next_export_removes_what_a_killed_export_left_and_succeeds(tmp_path):
    policy = cartpole_policy(tmp_path / "p")
    out = tmp_path / "int8"
    holder = Holder(EXPORT_STAGING, out)
    holder.kill()
    assert (holder.folder / "policy.onnx").read_bytes() == b"half"
    proc = rayprune("export", policy, "--out", out, "--calibration-episodes", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_info(out).dtype == "int8"
    assert not holder.folder.exists() and staging_leftovers(out) == []


def test_a_live_owners_folder_is_kept_until_it_is_killed(tmp_path):
    out = tmp_path / "policy"
    holder = Holder(EXPORT_STAGING, out)
    try:
        assert remove_abandoned(out) == []
        with StagedFolder(out) as staged:  # another process stages beside it, and publishes
            (staged.folder / "mine").write_text("whole")
            staged.publish()
        assert (out / "mine").read_text() == "whole"
        assert (holder.folder / "policy.onnx").read_bytes() == b"half"
    finally:
        holder.kill()
    assert remove_abandoned(out) == [holder.folder] and staging_leftovers(out) == []


def exited_process() -> tuple[int, int]:
    """The PID and start time of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)  # fmt: skip
    start = int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    proc.communicate(b"")
    return proc.pid, start


def stage_as(out: Path, pid: int, start: int) -> Path:
    folder = out.parent / f".{out.name}.{MARK}.{pid}-{start}.abcd1234"
    folder.mkdir()
    (folder / "file").write_text("x")
    return folder


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_only_a_gone_owners_unlocked_folder_is_removed(tmp_path):
    out = tmp_path / "policy"
    me = os.getpid()
    my_start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    gone = stage_as(out, *exited_process())
    reused = stage_as(out, me, my_start - 1)  # my PID, another start: the owner's PID reused
    starting = stage_as(out, me, my_start)  # a live owner that has not locked it yet
    held = stage_as(tmp_path / "held", *exited_process())  # its lock still held below
    other_out = stage_as(tmp_path / "policy2", *exited_process())
    old_style = tmp_path / ".policy.k3j4h5g6"  # an earlier rayprune's name: whose, unknown
    old_style.mkdir()
    lock = os.open(held, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a process the dead owner forked would hold it
        assert sorted(remove_abandoned(out)) == sorted([gone, reused])
        assert remove_abandoned(tmp_path / "held") == []
    finally:
        os.close(lock)
    assert remove_abandoned(tmp_path / "held") == [held]
    assert starting.is_dir() and other_out.is_dir() and old_style.is_dir()


def test_a_staging_folder_is_named_for_its_target_and_owner_and_gone_after_use(tmp_path):
    out = tmp_path / ("x" * 240)  # a long name: the folder's name keeps room for its owner
    folder, lock = open_staging(out)
    try:
        pid, rest = folder.name.removeprefix(f".{out.name[:200]}.{MARK}.").split("-", 1)
        assert int(pid) == os.getpid() and folder.parent == tmp_path
        with pytest.raises(BlockingIOError):  # locked: another open file cannot take it
            other = os.open(folder, os.O_RDONLY)
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(other)
    finally:
        close_staging(folder, lock)
    assert list(tmp_path.iterdir()) == []

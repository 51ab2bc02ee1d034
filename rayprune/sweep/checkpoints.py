"""A trial's checkpoints: RLlib's algorithm folder and rayprune's state beside it.

Tune keeps a trial's two newest checkpoints (runner.py). When the newest is unreadable (a state
file left empty by a full disk, say), the trial goes back to the one before, or starts over;
its MLflow run goes on either way (TrialRun skips the iterations it already holds).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow.fs
from ray import tune

from rayprune.errors import RaypruneError, SweepError

STATE_FILE = "rayprune_state.json"
ALGO_DIR = "algorithm"
CHECKPOINT_PREFIX = "checkpoint_"  # Tune's name for a trial's checkpoint folders

logger = logging.getLogger(__name__)


class CorruptCheckpoint(RaypruneError):
    pass


@dataclass(frozen=True)
class TrialState:
    """Where a trial stands: env steps trained, and once done, its final metrics."""

    env_steps: float = 0.0
    iteration: int | None = None
    final: dict[str, float] | None = None


def write_state(folder: Path, state: TrialState) -> None:
    (Path(folder) / STATE_FILE).write_text(json.dumps(asdict(state)))


def read_state(folder: Path, must_hold_algorithm: bool = True) -> TrialState:
    path = Path(folder) / STATE_FILE
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
        state = TrialState(**raw)
    except (OSError, ValueError, TypeError) as err:
        raise CorruptCheckpoint(f"checkpoint {folder} is unreadable: {STATE_FILE}: {err}") from None
    if must_hold_algorithm and state.final is None and not (Path(folder) / ALGO_DIR).is_dir():
        raise CorruptCheckpoint(f"checkpoint {folder} is unreadable: {ALGO_DIR}/ is missing")
    return state


def newest_first(checkpoint: tune.Checkpoint) -> list[tune.Checkpoint]:
    """The checkpoint Tune restores, then the trial's older ones beside it, newest first."""
    fs, path = checkpoint.filesystem, checkpoint.path
    parent = path.rstrip("/").rpartition("/")[0]
    older = sorted((p for p in _listing(fs, parent, CHECKPOINT_PREFIX) if p != path), reverse=True)
    return [checkpoint, *(tune.Checkpoint(p, filesystem=fs) for p in older)]


class Found(NamedTuple):
    """The newest readable checkpoint's folder (None: none was readable) and state, and one line
    for each unreadable one skipped on the way."""

    folder: Path | None
    state: TrialState
    skipped: list[str]


@contextlib.contextmanager
def usable(checkpoint: tune.Checkpoint | None) -> Iterator[Found]:
    """Inside the folder of the newest readable checkpoint (Tune's, then the older ones beside
    it); with none readable, a fresh state to start over from."""
    skipped: list[str] = []
    for candidate in newest_first(checkpoint) if checkpoint is not None else []:
        with candidate.as_directory() as d:
            try:
                state = read_state(Path(d))
            except CorruptCheckpoint as err:
                logger.warning("%s", err)
                skipped.append(str(err))
                continue
            yield Found(Path(d), state, skipped)
            return
    yield Found(None, TrialState(), skipped)


@contextlib.contextmanager
def trained(storage: str, sweep: str, trial: str) -> Iterator[Path]:
    """Inside the newest checkpoint of a trial of `sweep` that holds its trained algorithm: a
    finished trial's last checkpoint holds only its final metrics, the one before it the
    algorithm at the budget. `trial`: the start of Tune's folder name, `{slug}` of `{slug}_{id}`."""
    local = pyarrow.fs.LocalFileSystem(), storage
    fs, root = pyarrow.fs.FileSystem.from_uri(storage) if "://" in storage else local
    folder = f"{root.rstrip('/')}/{sweep}"
    for path in sorted(_listing(fs, folder, f"{trial}_")):
        for checkpoint in sorted(_listing(fs, path, CHECKPOINT_PREFIX), reverse=True):
            with tune.Checkpoint(checkpoint, filesystem=fs).as_directory() as d:
                if (Path(d) / ALGO_DIR).is_dir():
                    yield Path(d)
                    return
    raise SweepError(f"no checkpoint of trial {trial} in {folder} holds its trained policy")


def _listing(fs: pyarrow.fs.FileSystem, folder: str, prefix: str) -> list[str]:
    """The paths of the entries in `folder` whose names start with `prefix` (none when the
    folder cannot be read)."""
    try:
        found = fs.get_file_info(pyarrow.fs.FileSelector(folder))
    except OSError:
        return []
    return [i.path for i in found if i.base_name.startswith(prefix)]

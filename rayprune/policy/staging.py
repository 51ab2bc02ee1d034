"""Staging folders: a private folder beside a target, written into and then moved into place
whole (`StagedFolder`, `rayprune best`'s download).

A staging folder's name says whose it is: `.<target>.rayprune-staging.<pid>-<start>.<random>`,
the owner's PID and its start time (clock ticks since boot, /proc), and the owner holds a lock
(flock) on the folder while it lives. An owner that ends normally removes its folder; one killed
while staging (SIGKILL, the OOM killer) cannot, so the next one to stage for the same target
removes what it left: a folder whose owner is gone (no such process, a zombie, or a process that
started at another time: its PID reused) and whose lock is free (no process, not even a child the
owner forked, still holds it). A live owner's folder is never touched."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MARK = "rayprune-staging"
NAME_PART = 200  # of the target's name, so that the staging folder's name fits in 255 bytes


def open_staging(target: Path) -> tuple[Path, int | None]:
    """A new staging folder beside `target` (whose parent exists), locked by this process: the
    folder and the lock's file descriptor (None where the file system has no flock). Whatever
    a killed process left staged for the same target is removed first."""
    target = Path(target)
    remove_abandoned(target)
    pid = os.getpid()
    owner = f"{pid}-{_start_time(pid)}"
    folder = Path(tempfile.mkdtemp(prefix=f"{_prefix(target)}{owner}.", dir=target.parent))
    try:
        lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except BaseException:
        os.rmdir(folder)
        raise
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # no flock here: such a folder is never removed by another process
        pass
    return folder, lock


def close_staging(folder: Path | None, lock: int | None) -> None:
    """Remove the staging folder (if it was not moved into place), then release its lock."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    if lock is not None:
        os.close(lock)


@contextlib.contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """open_staging() for the block; the folder is gone after it unless the block moved it."""
    folder, lock = open_staging(target)
    try:
        yield folder
    finally:
        close_staging(folder, lock)


def remove_abandoned(target: Path) -> list[Path]:
    """Remove the staging folders for `target` whose owner is gone and whose lock is free; the
    folders removed."""
    target = Path(target)
    pattern = re.compile(re.escape(_prefix(target)) + r"(\d+)-(\d+)\.[A-Za-z0-9_]+")
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    removed = []
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or not entry.is_dir(follow_symlinks=False):
            continue
        if _alive(int(found[1]), int(found[2])):
            continue
        folder = Path(entry.path)
        try:
            lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held (by a process the owner forked?), or no flock here: keep it
            os.close(lock)
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(lock)
        if not folder.exists():
            removed.append(folder)
    return removed


def _prefix(target: Path) -> str:
    return f".{target.name[:NAME_PART]}.{MARK}."


def _alive(pid: int, start: int) -> bool:
    """Whether process `pid`, started at `start` (0: unknown, no /proc), is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    if not start:
        return True
    stat = _stat(pid)
    return stat is not None and stat[1] == start and stat[0] not in "ZX"


def _start_time(pid: int) -> int:
    stat = _stat(pid)
    return stat[1] if stat else 0


def _stat(pid: int) -> tuple[str, int] | None:
    """The state and the start time of process `pid`, from /proc (None: no such process, or
    no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return fields[0], int(fields[19])

"""The `mlflow ui` process tree that `rayprune ui` runs: `mlflow ui`, uvicorn and its workers,
MLflow's job runner and its consumers.

It runs in a session (and process group) of its own, so a terminal's Ctrl-C reaches rayprune
only, and it is stopped as a whole: SIGTERM to its group (and to any process of the tree that left
it for a group of its own, as MLflow's job processes do), then SIGKILL to what is still there
after a bounded wait. Its output reaches the terminal only while it serves: the start-up chatter
is held back (its last line explains a start that failed), and whatever it says while it stops
(uvicorn's shutdown log, tracebacks) is dropped."""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from rayprune.errors import CommandError


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that something listens on already, before anything starts: MLflow would
    exit 0 there ("Address already in use"), and the server already there would answer the
    health check in its place. Bound as uvicorn binds it (SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OverflowError:
        raise CommandError(f"port {port} is not a port (0-65535); choose one with --port") from None
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is in use (another server listens there); "
                "choose a free one with --port"
            ) from None
        reason = err.strerror or str(err)
        raise CommandError(f"cannot serve on {host}:{port}: {reason}") from None


class UiServer:
    """A server command started in a session of its own, its output relayed (see the module)."""

    HELD_LINES = 20

    def __init__(self, command: list[str]) -> None:
        self._mode = "hold"  # hold (starting), pass (serving), drop (stopping)
        self._held: collections.deque[str] = collections.deque(maxlen=self.HELD_LINES)
        self._mutex = threading.Lock()
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._relays = [
            threading.Thread(target=self._relay, args=(self.proc.stdout, sys.stdout), daemon=True),
            threading.Thread(target=self._relay, args=(self.proc.stderr, sys.stderr), daemon=True),
        ]
        for relay in self._relays:
            relay.start()

    def serving(self) -> None:
        """From now on its output reaches the terminal."""
        with self._mutex:
            self._mode = "pass"

    def last_words(self) -> str:
        """Once it has ended: its last line of output held back while it started (empty if
        none)."""
        for relay in self._relays:
            relay.join(timeout=2)  # the lines still in the pipe
        with self._mutex:
            return self._held[-1] if self._held else ""

    def _relay(self, stream: IO[bytes], to: IO[str]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace")
            with self._mutex:
                mode = self._mode
                if mode == "hold" and line.strip():
                    self._held.append(line.strip())
            if mode == "pass":
                with contextlib.suppress(OSError, ValueError):  # a closed terminal or pipe
                    to.write(line)
                    to.flush()
        stream.close()

    def stop(self, grace: float) -> None:
        """SIGTERM to the whole tree, SIGKILL to what is left of it after `grace` seconds;
        returns once none of it runs. Its output is dropped from now on."""
        with self._mutex:
            self._mode = "drop"
        group = self.proc.pid  # start_new_session: it leads its own group
        members = set(_group(group))  # and those of its tree that left it (job processes):
        strays = {(pid, start) for pid, start in _tree(group) if pid not in members}
        _signal(group, strays, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (
            self.proc.poll() is None or _group(group) or _running(strays)
        ):
            time.sleep(0.1)
        _signal(group, _running(strays), signal.SIGKILL)
        self.proc.wait()
        while _group(group) and time.monotonic() < deadline + 10:  # SIGKILL takes a moment
            time.sleep(0.1)
        for relay in self._relays:
            relay.join(timeout=1)


def _signal(group: int, strays: set[tuple[int, int]], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)
    for pid, _ in _running(strays):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _processes() -> dict[int, tuple[str, int, int, int]]:
    """pid -> (state, parent, process group, start time) of every process (/proc; {} without)."""
    found = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            fields = text[text.rindex(")") + 2 :].split()
            found[int(entry.name)] = (fields[0], int(fields[1]), int(fields[2]), int(fields[19]))
    return found


def _live(processes: dict[int, tuple[str, int, int, int]]) -> dict[int, tuple[str, int, int, int]]:
    return {pid: p for pid, p in processes.items() if p[0] not in "ZX"}


def _group(group: int) -> list[int]:
    """The processes of `group` still running (zombies, about to be reaped, left out)."""
    processes = _processes()
    if not processes:  # no /proc: ask the kernel
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [group]
    return [pid for pid, p in _live(processes).items() if p[2] == group]


def _tree(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of every running descendant of `root`, and root itself."""
    processes = _live(_processes())
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, p in processes.items():
        children[p[1]].append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            found.add((pid, processes[pid][3]))
        todo += children.get(pid, [])
    return found


def _running(members: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of `members` still running as the same processes (not PIDs reused since)."""
    if not members:
        return set()
    processes = _live(_processes())
    return {
        (pid, start) for pid, start in members if pid in processes and processes[pid][3] == start
    }

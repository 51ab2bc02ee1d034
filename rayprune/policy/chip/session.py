"""One qemu-system-arm process running a policy's firmware, talked to over semihosting (the
protocol is in firmware.py). The process is killed by its PID whenever the session ends
without the firmware's clean exit: an error, a timeout, Ctrl-C."""

from __future__ import annotations

import abc
import os
import select
import struct
import subprocess
import time
from pathlib import Path

import numpy as np

from rayprune.errors import ToolError
from rayprune.policy.c_runtime import tool
from rayprune.policy.chip.boards import Board
from rayprune.policy.chip.firmware import (
    BAD_COMMAND_EXIT,
    CMD_EXIT,
    CMD_FORWARD,
    FAULT_EXIT,
    MAGIC,
)

QEMU_PACKAGE = "qemu-system-arm"
START_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 10.0
EXIT_TIMEOUT_S = 10.0
EXIT_MEANINGS = {
    FAULT_EXIT: "the firmware faulted (a HardFault or other exception)",
    BAD_COMMAND_EXIT: "the firmware got a bad frame or lost its input",
}


class ChipError(ToolError):
    """The emulated chip failed: the firmware faulted or hung, or qemu died."""


def find_qemu() -> str:
    """The path of qemu-system-arm, or CompilerMissing naming its Debian package."""
    return tool("qemu-system-arm", QEMU_PACKAGE)


def qemu_command(qemu: str, board: Board, elf: Path, plugin: str | None) -> list[str]:
    """qemu-system-arm for the board, its console (semihosting) on stdin/stdout."""
    command = [
        qemu,
        *("-M", board.machine, "-cpu", board.cpu, "-display", "none", "-monitor", "none"),
        *("-serial", "none", "-semihosting-config", "enable=on,target=native"),
        *("-kernel", str(elf)),
    ]  # fmt: skip
    return [*command, "-plugin", plugin] if plugin else command


class ClosedOrKilled(abc.ABC):
    """A context that ends with close() when its block succeeded and with kill() when it
    raised (KeyboardInterrupt included): a failed run leaves no qemu behind and counts nothing."""

    @abc.abstractmethod
    def close(self) -> object: ...

    @abc.abstractmethod
    def kill(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()


class ChipSession(ClosedOrKilled):
    """A running chip: `forward(row)` sends one observation and returns the policy's outputs.
    Use it as a context manager: leaving asks the firmware to exit, and kills qemu if it does
    not, or if leaving on an exception."""

    def __init__(self, board: Board, command: list[str], stderr: Path) -> None:
        self.board, self._stderr_path = board, stderr
        self._stderr = stderr.open("wb")
        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                bufsize=0,
            )  # fmt: skip
        except BaseException:
            self._stderr.close()
            raise
        self.exit_code: int | None = None
        try:
            magic, self.obs_dim, self.out_dim = struct.unpack(
                "<3I", self._read(12, START_TIMEOUT_S)
            )
        except BaseException:
            self.kill()
            raise
        if magic != MAGIC:
            self.kill()
            raise ChipError(f"qemu-system-arm ({board.runtime}): the firmware did not start")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def forward(self, row: np.ndarray) -> np.ndarray:
        """[out_dim] float32: the policy's outputs for one observation."""
        obs = np.ascontiguousarray(row, dtype="<f4").reshape(-1)
        if obs.size != self.obs_dim:
            raise ValueError(f"an observation has {self.obs_dim} values, got {obs.size}")
        self._write(struct.pack("<I", CMD_FORWARD) + obs.tobytes())
        return np.frombuffer(self._read(4 * self.out_dim, ANSWER_TIMEOUT_S), dtype="<f4").copy()

    def _write(self, frame: bytes) -> None:
        try:
            self._proc.stdin.write(frame)
        except BrokenPipeError:
            raise self._failure("stopped taking input") from None

    def _read(self, size: int, timeout_s: float) -> bytes:
        """Exactly `size` bytes from the firmware, within timeout_s."""
        fd, chunks, deadline = self._proc.stdout.fileno(), [], time.monotonic() + timeout_s
        while size > 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                raise ChipError(
                    f"qemu-system-arm ({self.board.runtime}): no answer from the firmware in "
                    f"{timeout_s:g} s (it hung); qemu stopped"
                )
            chunk = os.read(fd, size)
            if not chunk:
                raise self._failure("ended")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _failure(self, what: str) -> ChipError:
        """The error for a qemu that went away: the firmware's exit code, or qemu's last line."""
        try:
            code = self._proc.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        self._stderr.close()
        last = [line for line in self._stderr_path.read_text(errors="replace").splitlines() if line]
        why = EXIT_MEANINGS.get(code) or (last[-1] if last else f"exit code {code}")
        return ChipError(f"qemu-system-arm ({self.board.runtime}) {what}: {why}")

    def close(self) -> None:
        """Ask the firmware to exit (so the instruction counter writes its counts); kill qemu
        if it does not within EXIT_TIMEOUT_S."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(struct.pack("<I", CMD_EXIT))
                self._proc.stdin.close()
                self.exit_code = self._proc.wait(EXIT_TIMEOUT_S)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        """Kill qemu (by its PID, through Popen) if it still runs, and reap it."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            if not stream.closed:
                stream.close()

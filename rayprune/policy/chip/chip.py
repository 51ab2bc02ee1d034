"""A policy's C on an emulated chip, end to end: firmware built, the instruction counter built,
qemu started once; closing it ends qemu and reads what the counter counted."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rayprune.policy.c_runtime import c_dir_of, read_header
from rayprune.policy.chip.boards import Board, board
from rayprune.policy.chip.build import build_firmware
from rayprune.policy.chip.plugin import build_plugin, plugin_args, read_tally
from rayprune.policy.chip.session import (
    ChipError,
    ChipSession,
    ClosedOrKilled,
    find_qemu,
    qemu_command,
)

NO_CYCLES = "an instruction count, exact and repeatable: qemu models no cycles"


class InstructionCount(NamedTuple):
    """Instructions one rayprune_forward call executes on the chip (its callees included: the
    soft-float helpers on a Cortex-M0), over `calls` calls; and the flash the policy alone
    takes, text + data of policy.o at -O2 for that chip."""

    mean: float
    least: int
    most: int
    calls: int
    policy_bytes: int


class Chip(ClosedOrKilled):
    """The policy in c_dir running on `runtime`'s board (m4, m0); a context manager. After it
    is closed, `count` holds the instruction count (None when no call was counted)."""

    def __init__(self, c_dir: Path, runtime: str | Board) -> None:
        self.board = runtime if isinstance(runtime, Board) else board(runtime)
        self.c_dir = c_dir_of(c_dir)
        self.header = read_header(self.c_dir)
        self.count: InstructionCount | None = None
        self._folder = tempfile.TemporaryDirectory(prefix=f"rayprune-{self.board.runtime}-")
        try:
            self._start(Path(self._folder.name))
        except BaseException:
            self._folder.cleanup()
            raise

    def _start(self, work: Path) -> None:
        qemu = find_qemu()  # before any build: a missing tool is said at once
        self.firmware = build_firmware(self.c_dir, self.board, work)
        self._tally = work / "count.txt"
        entry, ret = self.firmware.entry, self.firmware.ret
        plugin = plugin_args(build_plugin(work), entry, ret, self._tally)
        command = qemu_command(qemu, self.board, self.firmware.elf, plugin)
        self._session = ChipSession(self.board, command, work / "qemu.log")

    @property
    def pid(self) -> int:
        """qemu's process id."""
        return self._session.pid

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """[batch, out_dim] float32: what rayprune_forward outputs on the chip, row by row."""
        rows = np.asarray(obs, dtype=np.float32).reshape(-1, self.header.obs_dim)
        outputs = [self._session.forward(row) for row in rows]
        return np.stack(outputs).reshape(-1, self.header.out_dim)

    def close(self) -> InstructionCount | None:
        """End qemu and read the counter; the build folder goes."""
        if self._folder is None:
            return self.count
        try:
            self._session.close()
            tally = read_tally(self._tally)
            if self._session.exit_code != 0 or tally is None:
                raise ChipError(f"qemu-system-arm ({self.board.runtime}) did not exit cleanly")
            if tally.calls:
                mean = tally.total / tally.calls
                self.count = InstructionCount(
                    mean, tally.least, tally.most, tally.calls, self.firmware.policy_bytes
                )
        finally:
            self._folder.cleanup()
            self._folder = None
        return self.count

    def kill(self) -> None:
        """Stop qemu at once (nothing counted) and delete the build folder."""
        if self._folder is not None:
            self._session.kill()
            self._folder.cleanup()
            self._folder = None


def count_instructions(c_dir: Path, runtime: str, obs: np.ndarray) -> InstructionCount:
    """Instructions per rayprune_forward call on the emulated chip `runtime` (m4, m0), over one
    call per row of `obs` ([n, obs_dim] float32); c_dir holds policy.c and policy.h (or is a
    policy folder with c/)."""
    with Chip(c_dir, runtime) as chip:
        chip.forward(obs)
    if chip.count is None:
        raise ValueError("count_instructions needs at least one observation")
    return chip.count

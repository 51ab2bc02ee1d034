"""The emulated chips a policy runs on: a qemu-system-arm machine, its CPU, the flags that build
for it, and where its memory lies (from qemu 7.2's board sources, hw/arm/mps2.c and
hw/arm/nrf51_soc.c)."""

from __future__ import annotations

from typing import NamedTuple

from rayprune.errors import CommandError
from rayprune.policy.c_runtime import CORTEX_M4_FLAGS


class Board(NamedTuple):
    """One emulated chip. `cflags` select the CPU and float ABI (and may set -O: the build's
    own -O2 comes after them, so it wins)."""

    runtime: str  # the `rayprune eval --runtime` name
    title: str
    machine: str  # qemu -M
    cpu: str  # qemu -cpu
    cflags: tuple[str, ...]
    flash: tuple[int, int]  # origin, length
    ram: tuple[int, int]


BOARDS = {
    # MPS2 with AN386: Cortex-M4 with its single-precision FPU, 4 MB SSRAM1 at 0 holding the
    # code, 4 MB SSRAM2/3 at 0x20000000.
    "m4": Board(
        "m4", "Cortex-M4F (qemu mps2-an386, hard float)", "mps2-an386", "cortex-m4",
        CORTEX_M4_FLAGS, (0x0, 0x400000), (0x20000000, 0x400000),
    ),
    # BBC micro:bit, nRF51822: Cortex-M0 without FPU (floats are libgcc calls), 256 KB flash,
    # 16 KB RAM.
    "m0": Board(
        "m0", "Cortex-M0 (qemu microbit, soft float)", "microbit", "cortex-m0",
        ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"), (0x0, 0x40000), (0x20000000, 0x4000),
    ),
}  # fmt: skip


def board(runtime: str) -> Board:
    """The board for a runtime name (m4, m0), or CommandError naming those there are."""
    if runtime not in BOARDS:
        raise CommandError(f"no emulated board {runtime!r}: one of {', '.join(BOARDS)}")
    return BOARDS[runtime]

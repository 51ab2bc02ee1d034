"""Build a policy's C into firmware for an emulated board with arm-none-eabi-gcc: policy.o as
the code you flash (-std=c99 -O2, rayprune's warning flags), our firmware around it, one ELF."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rayprune.policy.c_export import SOURCE_FILE
from rayprune.policy.c_runtime import CFLAGS, _run, tool
from rayprune.policy.chip.boards import Board
from rayprune.policy.chip.firmware import ENTRY_SYMBOL, FIRMWARE_C, RETURN_SYMBOL, linker_script

GCC_PACKAGE = "gcc-arm-none-eabi"
OPT = "-O2"
# The firmware is ours, not the user's: GNU C for the register variables and assembly, and no
# loop turned into a call to the memset it defines itself.
FIRMWARE_FLAGS = ("-std=gnu99", "-Wall", "-Wextra", "-Werror", "-ffreestanding",
                  "-fno-tree-loop-distribute-patterns")  # fmt: skip
# libgcc's helpers (__aeabi_fadd, __divsi3, ...) and what the firmware defines
PROVIDED = ("__", "memset", "memcpy")


class Firmware(NamedTuple):
    """A built ELF, the addresses the instruction counter watches, and the size of the policy
    alone: text + data of policy.o (weights are const, so in text), as flashed."""

    elf: Path
    entry: int  # rayprune_forward's first instruction
    ret: int  # the instruction its call returns to
    policy_bytes: int


def _gcc() -> str:
    return tool("arm-none-eabi-gcc", GCC_PACKAGE)


def compile_policy(c_dir: Path, board: Board, workdir: Path) -> Path:
    """workdir/policy.o: the policy's C for the board's CPU, at -O2."""
    target = Path(workdir) / "policy.o"
    c_dir = Path(c_dir).resolve()
    command = [_gcc(), *CFLAGS, *board.cflags, OPT, f"-I{c_dir}", "-c", str(c_dir / SOURCE_FILE)]
    _run([*command, "-o", str(target)], target.parent)
    return target


def object_bytes(obj: Path) -> int:
    """text + data of an object file (arm-none-eabi-size, Berkeley format)."""
    lines = _run([tool("arm-none-eabi-size", GCC_PACKAGE), str(obj)], obj.parent).splitlines()
    text, data = lines[1].split()[:2]
    return int(text) + int(data)


def _symbols(binary: Path, *options: str) -> dict[str, int]:
    """name -> address from arm-none-eabi-nm (Thumb's bit 0 cleared: the instruction address)."""
    out = _run([tool("arm-none-eabi-nm", GCC_PACKAGE), *options, str(binary)], binary.parent)
    found = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3:
            found[fields[2]] = int(fields[0], 16) & ~1
    return found


def _needs_libc(obj: Path) -> bool:
    """Whether policy.o calls anything beyond libgcc and the firmware: libm (expf for elu and
    silu), which comes with newlib's libc."""
    out = _run([tool("arm-none-eabi-nm", GCC_PACKAGE), "-u", str(obj)], obj.parent)
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    return any(not name.startswith(PROVIDED) for name in names)


def build_firmware(c_dir: Path, board: Board, workdir: Path) -> Firmware:
    """workdir/policy.elf: the policy and our firmware, linked for the board."""
    workdir = Path(workdir)
    policy = compile_policy(c_dir, board, workdir)
    source, script = workdir / "firmware.c", workdir / "link.ld"
    source.write_text(FIRMWARE_C)
    script.write_text(linker_script(board))
    firmware = workdir / "firmware.o"
    flags = [*FIRMWARE_FLAGS, *board.cflags, OPT, f"-I{Path(c_dir).resolve()}"]
    _run([_gcc(), *flags, "-c", str(source), "-o", str(firmware)], workdir)
    elf = workdir / "policy.elf"
    libraries = ["-lm", "-lc", "-lgcc"] if _needs_libc(policy) else ["-lgcc"]
    link = [_gcc(), *board.cflags, "-nostdlib", "-T", str(script), str(firmware), str(policy)]
    _run([*link, *libraries, "-o", str(elf)], workdir)
    symbols = _symbols(elf)
    return Firmware(elf, symbols[ENTRY_SYMBOL], symbols[RETURN_SYMBOL], object_bytes(policy))

"""A policy's C on an emulated Cortex-M (qemu-system-arm): closed-loop evaluation and the
instructions a decision executes. boards: the chips; firmware: what runs around the policy;
build: arm-none-eabi-gcc; plugin: the TCG instruction counter; session: qemu and its protocol;
chip: all of it together; policy: a runtime.Policy whose forward runs on the chip."""

from rayprune.policy.chip.boards import BOARDS, Board
from rayprune.policy.chip.chip import NO_CYCLES, Chip, InstructionCount, count_instructions
from rayprune.policy.chip.policy import ChipPolicy
from rayprune.policy.chip.session import ChipError

__all__ = [
    "BOARDS",
    "NO_CYCLES",
    "Board",
    "Chip",
    "ChipError",
    "ChipPolicy",
    "InstructionCount",
    "count_instructions",
]

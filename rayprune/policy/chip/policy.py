"""A compact policy evaluated on an emulated chip: runtime.Policy's interface, so evaluate()
plays the same episodes and seeds as for onnx or c, with each forward pass on the chip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rayprune.policy.chip.chip import Chip, InstructionCount
from rayprune.policy.info import read_info


class ChipPolicy:
    """OnnxPolicy's interface with the outputs computed by c/policy.c on the chip `runtime`
    (m4, m0); the action is picked on the host as OnnxPolicy picks it (argmax, or the means
    clipped to the Box). A context manager: qemu ends when it does, and `count` then holds
    the instructions per decision."""

    def __init__(self, policy_dir: Path, runtime: str) -> None:
        info = read_info(policy_dir)
        self.spaces, self.trained_on = info.spaces, info.env
        self.chip = Chip(policy_dir, runtime)

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        return self.chip.forward(obs)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.spaces.action_space.actions(self.outputs(obs))

    @property
    def count(self) -> InstructionCount | None:
        return self.chip.count

    def __enter__(self) -> ChipPolicy:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        self.chip.__exit__(kind, *exc)

"""PoPS's distillation from the dense teacher (Livne & Cohen 2020), as an extra loss term."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, continuous: bool
) -> torch.Tensor:
    """KL(teacher || student) between the action distributions for discrete actions (PoPS's
    policy distillation), the mean squared error of the action means for continuous ones."""
    teacher = teacher.detach()
    if continuous:
        return F.mse_loss(student, teacher)
    return F.kl_div(
        F.log_softmax(student, dim=-1),
        F.log_softmax(teacher, dim=-1),
        log_target=True,
        reduction="batchmean",
    )

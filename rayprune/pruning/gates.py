"""Hard-concrete gates for L0-norm regularization (Louizos, Welling & Kingma 2018).

A gate z in [0, 1] per neuron (or per weight) with a learnable log_alpha. Training draws z from
the hard-concrete distribution (stretch (GAMMA, ZETA) = (-0.1, 1.1), temperature BETA = 2/3), so
exact zeros have nonzero probability and the expected L0 norm is differentiable; evaluation uses
the deterministic gate.
"""

from __future__ import annotations

import math

import torch

GAMMA, ZETA, BETA = -0.1, 1.1, 2.0 / 3.0
# sigmoid(3) * 1.2 - 0.1 > 1: every gate starts fully open, so the network starts as the dense one.
LOG_ALPHA_INIT = 3.0


def sample_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """Louizos Eq. 10: u ~ U(0, 1), s = sigmoid((log u - log(1 - u) + log_alpha) / beta),
    z = min(1, max(0, s * (zeta - gamma) + gamma))."""
    u = torch.rand_like(log_alpha).clamp(1e-6, 1.0 - 1e-6)
    s = torch.sigmoid((u.log() - (-u).log1p() + log_alpha) / BETA)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def deterministic_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """Louizos Eq. 13, the test-time gate: min(1, max(0, sigmoid(log_alpha) * (zeta - gamma) + gamma))."""
    return (torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def prob_nonzero(log_alpha: torch.Tensor) -> torch.Tensor:
    """Louizos Eq. 12: P(z != 0) = sigmoid(log_alpha - beta * log(-gamma / zeta)); summed, the
    expected L0 norm that the regularizer penalizes."""
    return torch.sigmoid(log_alpha - BETA * math.log(-GAMMA / ZETA))


def gates(log_alpha: torch.Tensor, stochastic: bool) -> torch.Tensor:
    return sample_gates(log_alpha) if stochastic else deterministic_gates(log_alpha)

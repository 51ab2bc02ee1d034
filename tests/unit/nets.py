"""Small random CompactMLPs, the observations they are run on and torch's forward of them: the
reference the generated C (test_c_export.py) and int8 quantization (test_quantize.py) are checked
against."""

from __future__ import annotations

import numpy as np
import torch

from rayprune.pruning.compaction import CompactMLP

ACTIVATIONS = ["tanh", "relu", "elu", "silu", "sigmoid"]
# absolute tolerance against torch's float32 forward (why 1e-5: test_c_export.py's docstring)
ATOL = 1e-5


def observations(obs_dim: int, seed: int, n: int = 10_000) -> np.ndarray:
    """n rows: most standard normal, a fifth at 20x that (tanh saturates, relu grows)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, obs_dim))
    x[: n // 5] *= 20.0
    return x.astype(np.float32)


def torch_out(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def random_net(activation: str, seed: int, ranks: list | None = None) -> CompactMLP:
    torch.manual_seed(seed)
    return CompactMLP(6, [12, 7], 3, activation, ranks).eval()

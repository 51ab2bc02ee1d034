"""A CompactMLP as the sequence of linear maps its forward pass computes: what the C generators
(c_float.py, c_int8.py) and the int8 quantizer (quantize.py) walk through."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rayprune.pruning.compaction import CompactMLP, LowRankLinear


@dataclass(frozen=True)
class Matmul:
    """One linear map of the forward pass, y = W x (+ b), then the activation if `activate`."""

    weight: np.ndarray  # float32 [out, in]
    bias: np.ndarray | None  # float32 [out]; None for a LowRankLinear's down factor
    activate: bool


def matmuls(net: CompactMLP) -> list[Matmul]:
    """The network's linear maps in forward order: a LowRankLinear is down (no bias), then up."""
    found = []
    for i, layer in enumerate(net.linears):
        activate = i < len(net.linears) - 1
        if isinstance(layer, LowRankLinear):
            found.append(Matmul(_array(layer.down.weight), None, False))
            layer = layer.up
        found.append(Matmul(_array(layer.weight), _array(layer.bias), activate))
    return found


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)

"""Observation normalization, frozen at export: the exported policy applies it itself, so it
takes the environment's raw observations whatever the training did to them.

The statistics are RLlib's MeanStdFilter's (a running mean and the unbiased std of every
observation the samplers saw); the formula is its own, clipping included, so the exported
policy on raw observations gives the trained actor's outputs on normalized ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rayprune.policy.json_numbers import number_from_json, number_to_json

# RLlib's MeanStdFilter: SMALL_NUMBER added to the std, and its default clip_by_value.
FILTER_EPS = 1e-6
FILTER_CLIP = 10.0


@dataclass(frozen=True)
class ObsNormalization:
    """Per-input mean and std of the flattened observation, and the filter's constants."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    eps: float = FILTER_EPS
    clip: float | None = FILTER_CLIP

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """x' = clip((x - mean) / (std + eps), -clip, clip): MeanStdFilter's formula, on
        flattened observations [batch, obs_dim]."""
        mean = torch.tensor(self.mean, dtype=x.dtype)
        scale = torch.tensor(self.std, dtype=x.dtype) + self.eps
        x = (x - mean) / scale
        return x if self.clip is None else x.clamp(-self.clip, self.clip)

    def to_json(self) -> dict[str, Any]:
        """Standard JSON: a non-finite number is a string (json_numbers)."""
        return {
            "mean": [number_to_json(v) for v in self.mean],
            "std": [number_to_json(v) for v in self.std],
            "eps": number_to_json(self.eps),
            "clip": number_to_json(self.clip),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ObsNormalization:
        clip = raw.get("clip")
        return cls(
            tuple(number_from_json(v) for v in raw["mean"]),
            tuple(number_from_json(v) for v in raw["std"]),
            number_from_json(raw["eps"]),
            None if clip is None else number_from_json(clip),
        )

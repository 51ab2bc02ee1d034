"""The actor-critic's shapes as a plain type (no Ray), so the config can build it cheaply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rayprune.pruning import Gates


@dataclass(frozen=True)
class ActorCriticSpec:
    """The networks' shapes, plus what a method builds into the actor: L0's gates, dropout,
    PoPS's teacher. Crosses to RLlib as to_dict()'s plain types (its model_config)."""

    hidden: list[int] = field(default_factory=lambda: [128, 128])
    critic_hidden: list[int] = field(default_factory=lambda: [128, 128])
    activation: str = "tanh"
    gates: Gates | None = None
    dropout_rate: float = 0.0
    distill: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ActorCriticSpec:
        """RLlib merges its own defaults (vf_share_layers, ...) into a module's model_config:
        only this type's fields are read back."""
        raw = raw or {}
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})

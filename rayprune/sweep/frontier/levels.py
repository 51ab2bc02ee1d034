"""The sparsity targets worth probing between two bounds: one per number of units kept.

With the rank reading a target p keeps n - floor(p n) of a layer's n units (layer scope, never
fewer than the layer's floor), or N - floor(p N) of all N units together (global scope). Every
target between two breakpoints j / n keeps the same count, so a search that probed both would
train the same network twice; the levels are the breakpoints, each the lowest target that keeps
its count. (The mass reading and L1's threshold can remove more: there the count is the most a
level keeps.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

from rayprune.pruning.pruner import UnitLayers, reachable
from rayprune.pruning.selection import masked_count_for


class Level(NamedTuple):
    target: float  # the sparsity target a trial is given
    kept: int  # units it keeps, in its method's unit


def kept_units(layers: UnitLayers, target: float) -> int:
    """Units the rank reading keeps at `target` over the layers the target counts."""
    if layers.scope == "global":
        total = sum(layers.dense)
        return max(sum(layers.floor), total - masked_count_for(target, total))
    return sum(
        max(floor, n - masked_count_for(target, n)) for n, floor in zip(layers.dense, layers.floor)
    )


def sparsity_levels(layers: UnitLayers, low: float, high: float) -> list[Level]:
    """The reachable levels with targets in [low, high], fewest units kept first."""
    groups = {sum(layers.dense)} if layers.scope == "global" else set(layers.dense)
    targets = {low} | {
        j / n
        for n in groups
        for j in range(math.ceil(low * n - 1e-9), math.floor(high * n + 1e-9) + 1)
    }
    lowest: dict[int, float] = {}
    for target in sorted(t for t in targets if low <= t <= high and reachable(layers, t)):
        lowest.setdefault(kept_units(layers, target), target)
    return sorted((Level(t, k) for k, t in lowest.items()), key=lambda level: level.kept)


def thinned(levels: list[Level], most: int) -> list[Level]:
    """At most `most` of the levels, evenly spaced in log(units kept) and always the first and
    the last: weight units have thousands of levels, and telling 8,000 kept weights from 8,001
    is not worth a probe."""
    if len(levels) <= most:
        return levels
    low, high = math.log(levels[0].kept), math.log(levels[-1].kept)
    picked: dict[int, Level] = {}
    for i in range(most):
        aim = math.exp(low + (high - low) * i / (most - 1))
        nearest = min(levels, key=lambda level: abs(level.kept - aim))
        picked.setdefault(nearest.kept, nearest)
    return sorted(picked.values(), key=lambda level: level.kept)

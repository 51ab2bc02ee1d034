"""Numbers in compression.json as standard JSON: JSON has no token for an infinite or NaN
float (Python's json writes bare `Infinity` and `NaN`, which JSON.parse and most other parsers
reject), so such a float is written as the string "Infinity", "-Infinity" or "NaN", the
spelling JavaScript's Number(), Java's Double.parseDouble, C's strtod and Python's float()
all read. Read back: those strings, and the bare tokens rayprune wrote before (Python's
json.loads reads them as floats)."""

from __future__ import annotations

import math
from typing import Any

NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def number_to_json(value: float | None) -> float | str | None:
    """A float as compression.json holds it: itself, or its string where it is not finite."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def number_from_json(raw: Any) -> float:
    """The float that number_to_json wrote (or an older file's number); a ValueError for
    anything else."""
    if isinstance(raw, str):
        if raw not in NON_FINITE:
            raise ValueError(f"{raw!r} is not a number (nor Infinity, -Infinity or NaN)")
        return NON_FINITE[raw]
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{raw!r} is not a number")
    return float(raw)

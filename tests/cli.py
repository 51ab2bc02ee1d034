"""Running the `rayprune` command as a user does, from the tests: a real process, this
checkout's code, and the one-line error every bad input must give."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rayprune(*args, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    # a process costs seconds of start-up: the fast tier (tests/conftest.py) runs none
    assert os.environ.get("RAYPRUNE_FAST_TIER") != "1", (
        "the fast tier starts no rayprune process: mark this test slow"
    )
    return subprocess.run(
        [sys.executable, "-m", "rayprune.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    """Exit code 2 and exactly one non-blank line on stderr, rayprune's (starting, unindented,
    with "rayprune: error:"), holding `fragment`."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rayprune: error:"), proc.stderr
    assert fragment in lines[0], lines[0]

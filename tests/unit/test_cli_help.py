"""`rayprune --help` and every command's help: nothing heavy imported before a command runs (the
help took 6 s when it was), and text that reflows, with no line breaks from the docstrings."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ["sweep", "resume", "best", "report", "eval", "export", "ui"]
HEAVY = ["mlflow", "ray", "torch", "numpy", "matplotlib", "onnxruntime", "gymnasium", "rich"]
WIDTH = 78  # click's 80 columns less its margin

PROBE = """
import json, sys
import rayprune.cli as cli
try:
    cli.app(sys.argv[1:], prog_name="rayprune")
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(%r))))
""" % (HEAVY,)  # noqa: UP031


def run_help(*args: str) -> tuple[str, list[str]]:
    """The help text, and the heavy packages that were imported to print it."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--help"],
        capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"},
    )  # fmt: skip
    text, _, loaded = proc.stdout.rstrip().rpartition("\n")
    return text, json.loads(loaded)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_nothing_heavy_and_reflows_its_text(command):
    text, loaded = run_help(*([command] if command else []))
    assert loaded == [], f"`rayprune {command} --help` imported {loaded}"
    assert "Usage: rayprune" in text
    description = text.split("\n\n", 1)[1].split("Arguments:")[0].split("Options:")[0]
    for paragraph in description.strip("\n").split("\n\n"):
        lines = paragraph.split("\n")
        for line, after in zip(lines, lines[1:]):  # a break only where the next word won't fit
            assert len(line.rstrip()) + 1 + len(after.split()[0]) > WIDTH, (line, after)


def test_the_command_list_shows_each_first_sentence_whole():
    text, _ = run_help()
    listing = text.split("Commands:")[1]
    assert "..." not in listing
    for command in COMMANDS:
        assert f"\n  {command} " in listing
    assert "Register the best trial's policy as an MLflow Model and download it." in (
        " ".join(listing.split())
    )


def test_help_answers_in_well_under_a_second_of_its_own_work():
    """Measured as the whole process, start-up included, best of three on a shared machine."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rayprune.cli", "--help"],
            capture_output=True, check=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        times.append(time.perf_counter() - start)
    assert min(times) < 1.0, times

"""Ctrl-C, SIGTERM and SIGHUP during any command: one line and exit 128 + the signal's number,
through typer as the real commands run (typer turns a KeyboardInterrupt into a silent exit)."""

import os
import signal
import subprocess
import sys

import pytest

from tests.cli import REPO

pytestmark = pytest.mark.slow  # a child process per signal

# A terminal's SIGINT handling, also where the test runner's shell started it ignoring SIGINT
# (a background job), which Python then keeps.
NAPPING_COMMAND = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import rayprune.cli as cli

@cli.app.command()
def nap() -> None:
    print("ready", flush=True)
    time.sleep(60)

sys.argv = ["rayprune", "nap"]
cli.main()
"""


@pytest.mark.parametrize(
    "signum, code, line",
    [
        (signal.SIGINT, 130, "rayprune: interrupted"),
        (signal.SIGTERM, 143, "rayprune: stopped by SIGTERM"),
        (signal.SIGHUP, 129, "rayprune: stopped by SIGHUP"),
    ],
)
def test_a_signal_during_a_command_is_one_line_and_its_exit_code(signum, code, line):
    proc = subprocess.Popen(
        [sys.executable, "-c", NAPPING_COMMAND], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code and stderr.strip() == line, (proc.returncode, stderr)

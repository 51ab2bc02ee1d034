"""One driver per sweep name: the lock on sweeps/.NAME.lock refuses a second holder in one
line and dies with its process, however it dies (here: SIGKILL)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from rayprune.errors import SweepError
from rayprune.sweep.workspace import Workspace
from tests.cli import REPO

pytestmark = pytest.mark.slow  # a holder process

HOLD = """
import sys, time
from rayprune.sweep.workspace import Workspace
with Workspace.create(sys.argv[1]).sweep_lock("s"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_sweep_is_refused_until_its_holder_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        ws = Workspace.create(tmp_path)
        with pytest.raises(
            SweepError, match=f"sweep 's' is running in rayprune pid {holder.pid} on"
        ):
            with ws.sweep_lock("s"):
                pass
        with ws.sweep_lock("other"):  # other names are free
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel frees the dead holder's lock
        try:
            with ws.sweep_lock("s"):
                break
        except SweepError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_the_lock_names_its_holder_and_is_released_on_leaving(tmp_path):
    ws = Workspace.create(tmp_path)
    with ws.sweep_lock("s"):
        assert "rayprune pid" in (tmp_path / "sweeps" / ".s.lock").read_text()
    with ws.sweep_lock("s"):  # released on leaving the block
        pass

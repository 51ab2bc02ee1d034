"""docs/getting-started.md runs as written: every command in its bash blocks, in order, in one
shell, from a folder laid out like the repository (its scripts, its .venv), where
tune_configs/quickstart.yaml is the tiny config of the integration tests under the quickstart's
name, so `./scripts/quickstart.sh` takes seconds instead of minutes. Blocks that include a file
(`--8<--`) show it and are not run."""

import hashlib
import json
import re
import subprocess

import pytest

from tests.cli import REPO
from tests.integration.sweeps import write_config

pytestmark = pytest.mark.integration

PAGE = REPO / "docs" / "getting-started.md"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINKED = [".venv", "scripts", "pyproject.toml", "requirements.lock"]


def page_commands() -> list[str]:
    blocks = [b for b in FENCE.findall(PAGE.read_text()) if "--8<--" not in b]
    return [line for b in blocks for line in b.splitlines() if line.strip()]


def installed() -> bool:
    """setup.sh's stamp matches: in the copy it is a no-op, never an install into the copy."""
    stamp = REPO / ".venv" / ".rayprune-installed"
    want = (REPO / "pyproject.toml").read_bytes() + (REPO / "requirements.lock").read_bytes()
    return stamp.is_file() and stamp.read_text().strip() == hashlib.sha256(want).hexdigest()


def test_the_getting_started_page_runs_as_written(tmp_path):
    assert installed(), "run ./scripts/setup.sh first (the page's quickstart.sh calls it)"
    commands = page_commands()
    assert commands[0] == "./scripts/quickstart.sh", commands
    for name in LINKED:
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "tune_configs").mkdir()
    write_config(tmp_path / "tune_configs", name="quickstart")

    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    assert (tmp_path / "rayprune_results" / "sweeps" / "quickstart.json").is_file()
    assert (tmp_path / "best_policy" / "c" / "policy.c").is_file()
    int8 = json.loads((tmp_path / "best_int8" / "compression.json").read_text())
    assert int8["dtype"] == "int8"
    assert (tmp_path / "rayprune_results" / "reports" / "quickstart" / "report.html").is_file()
    # the three evals (ONNX Runtime, the int8 C here, on the emulated M4) each printed a return
    assert len(re.findall(r"^return -?[\d.]+ \+- [\d.]+ over \d+ episodes", proc.stdout, re.M)) == 3
    assert re.search(r"[\d,.]+ instructions per decision", proc.stdout), proc.stdout[-2000:]

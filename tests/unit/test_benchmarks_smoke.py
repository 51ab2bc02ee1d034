"""benchmarks/inference.py keeps working: a real run with tiny repeat counts (a few seconds).
The training-overhead and sweep-throughput benchmarks take minutes and are not run here."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the benchmark scripts run as processes

REPO = Path(__file__).resolve().parents[2]


def test_inference_benchmark_runs_and_checks_agreement() -> None:
    command = [
        sys.executable, "benchmarks/inference.py", "--rounds", "2", "--calls", "20",
        "--batches", "2", "--batch", "256", "--warmup", "5", "--hidden", "32", "32",
    ]  # fmt: skip
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("dense 4-32-32-2, compact 4-2-2-2")
    assert "all runtimes agree with torch" in lines[1]
    for runtime in ("torch eager", "onnxruntime", "numpy"):
        assert any(line.startswith(runtime) and line.endswith("x") for line in lines)
    assert any(line.startswith("FLOPs per observation") for line in lines)
    assert lines[-1].startswith("command: python benchmarks/inference.py --rounds 2")


def test_c_inference_benchmark_runs() -> None:
    """benchmarks/c_inference.py: C against ONNX Runtime and NumPy, flash sizes, int8 error
    (about 40 s, most of it exporting four ONNX graphs)."""
    command = [
        sys.executable, "benchmarks/c_inference.py", "--rounds", "1", "--blocks", "20",
        "--calls", "20", "--batch", "256", "--passes", "2", "--batches", "2",
    ]  # fmt: skip
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "all runtimes agree with torch" in out.stdout
    assert "C batch-1 speed-up over onnxruntime" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("command: python benchmarks/c_inference.py")

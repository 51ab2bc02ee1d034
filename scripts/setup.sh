#!/usr/bin/env bash
# Create .venv and install rayprune with its dependencies from requirements.lock (exact versions,
# hash-checked); a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP=.venv/.rayprune-installed
WANT=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
echo "rayprune: installing into .venv (a few minutes the first time) ..."
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
quiet() { grep -v "is ignored" || true; }
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet
# torch first: its CPU wheel is on this machine's package path; asked for later, through ray
# or another range, pip would fetch the multi-GB CUDA build instead. The lock leaves it out.
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | quiet
.venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements.lock 2>&1 | quiet
.venv/bin/python -m pip install -q --no-deps -e . 2>&1 | quiet
.venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
.venv/bin/python -c "import rayprune.cli, torch, ray, mlflow, onnxruntime"
echo "$WANT" > "$STAMP"

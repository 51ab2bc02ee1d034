#!/usr/bin/env bash
# Create .venv and install rayprune with its dependencies; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP=.venv/.rayprune-installed
WANT=$(sha256sum pyproject.toml | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
echo "rayprune: installing into .venv (about a minute) ..."
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
# torch first: its CPU wheel is on this machine's package path; asked for later, through ray
# or another range, pip would fetch the multi-GB CUDA build instead.
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import rayprune.cli, torch, ray, mlflow, onnxruntime" 
echo "$WANT" > "$STAMP"

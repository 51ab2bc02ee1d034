#!/usr/bin/env bash
# Create .venv and install rayprune with its dependencies; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium and its driver, from Debian's packages, for the report's browser test
# (tests/integration/test_report_cli.py); checked before the venv stamp, installed only if missing.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo -n")
  if command -v apt-get >/dev/null && { [ -z "$SUDO" ] || command -v sudo >/dev/null; }; then
    echo "rayprune: installing chromium and chromium-driver (apt-get) for the report's browser test ..."
    { $SUDO apt-get update -qq >/dev/null \
      && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null; } \
      || echo "rayprune: apt-get could not install chromium; the report's browser test needs it" >&2
  else
    echo "rayprune: no chromium/chromedriver and no apt-get as root here; install them for the report's browser test" >&2
  fi
fi

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

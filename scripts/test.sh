#!/usr/bin/env bash
# Install, then run the whole test suite (unit tests, then real RLlib/Tune/MLflow integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# Headless Chromium and its driver, from Debian's packages, for the report's browser test
# (tests/integration/test_report_cli.py); installed only if missing (the main job does not need it).
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

./scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

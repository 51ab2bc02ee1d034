#!/usr/bin/env bash
# Install, then run the whole test suite (unit tests, then real RLlib/Tune/MLflow integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Install, then run the quickstart sweep on the embedded default (local Ray + SQLite MLflow).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/rayprune sweep tune_configs/quickstart.yaml "$@"

#!/usr/bin/env bash
# Build the documentation site into site/ (warnings are errors), or serve it on 127.0.0.1 only:
#   ./scripts/docs.sh          # mkdocs build --strict
#   ./scripts/docs.sh serve    # mkdocs serve, rebuilt on change, http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export NO_MKDOCS_2_WARNING=1  # Material's banner about its successor, printed on every build
if [ "${1:-}" = serve ]; then
  exec .venv/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000
fi
exec .venv/bin/mkdocs build --strict --site-dir site

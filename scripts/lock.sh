#!/usr/bin/env bash
# Rewrite requirements.lock: every dependency of rayprune (and its test and docs extras) pinned,
# with hashes, by uv. Run it after changing pyproject.toml's dependencies; tests/unit/test_lock.py
# fails while the two disagree.
#
# torch is left out, with the CUDA packages only PyPI's Linux torch wheel pulls in: setup.sh
# installs the CPU build of torch first (this project's machines have it on their package path;
# the PyPI one is several GB of CUDA), and the lock holds what that build needs besides.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
command -v "$UV" >/dev/null || { echo "lock.sh needs uv: pip install uv" >&2; exit 2; }
args=(pyproject.toml --extra test --extra docs --generate-hashes --python-version 3.11
      --python-platform x86_64-unknown-linux-gnu --no-header --quiet)
cuda_only=$("$UV" pip compile "${args[@]}" \
  | grep -oE '^(nvidia-[a-z0-9-]+|triton|cuda-[a-z0-9-]+)==' | tr -d '=' || true)
exclude=(--no-emit-package torch)
for package in $cuda_only; do exclude+=(--no-emit-package "$package"); done
"$UV" pip compile "${args[@]}" "${exclude[@]}" -o requirements.lock
echo "wrote requirements.lock"

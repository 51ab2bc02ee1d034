#!/usr/bin/env bash
# Install, then run the whole test suite (unit tests, then real RLlib/Tune/MLflow integration
# tests): what CI runs. `--fast`: the fast tier only (every module's logic, no Ray, no servers,
# no apt packages; a few minutes), without the apt step. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fast" ]; then
  shift
  ./scripts/setup.sh
  RAYPRUNE_FAST_TIER=1 exec .venv/bin/python -m pytest -q -p no:cacheprovider \
    -m "not integration and not cluster and not slow" tests/unit "$@"
fi
# Debian packages the tests need beside Python's: headless Chromium and its driver for the
# report's browser test; the Cortex-M4 and aarch64 cross compilers and qemu-user for the C export
# checks (tests/unit/test_c_export.py); qemu-system-arm for the policy on an emulated Cortex-M
# (tests/unit/test_chip.py). Installed only if missing; the main job needs none.
APT_PACKAGES=(chromium chromium-driver gcc-arm-none-eabi libnewlib-arm-none-eabi
              gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-system-arm)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo -n")
  if command -v apt-get >/dev/null && { [ -z "$SUDO" ] || command -v sudo >/dev/null; }; then
    echo "rayprune: installing ${missing[*]} (apt-get) for the tests ..."
    { $SUDO apt-get update -qq >/dev/null \
      && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null; } \
      || echo "rayprune: apt-get could not install ${missing[*]}; the tests that need them skip" >&2
  else
    echo "rayprune: ${missing[*]} missing and no apt-get as root here; the tests that need them skip" >&2
  fi
fi

./scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

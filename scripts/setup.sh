#!/usr/bin/env bash
# Installs what sluice's build and tests need on a fresh machine (idempotent):
# - Python packages the tests use to check outputs (pyarrow), from PyPI;
# - a CPU libtorch 2.13.0 for the trainer (scripts/setup-libtorch.sh), cached in ~/.cache.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import pyarrow" 2>/dev/null; then
  echo "setup: installing pyarrow" >&2
  python3 -m pip install --quiet --disable-pip-version-check "pyarrow==26.0.1" >&2
fi
scripts/setup-libtorch.sh >/dev/null

#!/usr/bin/env bash
# The Python package's tests: installs ./python (the README's command) into the PyTorch venv
# of benches/torch-setup.sh (torch 2.13.0, the trainer's libtorch version) and runs pytest
# against the debug `sluice` binary (scripts/test.sh runs it after the Rust tests).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(benches/torch-setup.sh)
echo "== pip install ./python (maturin, release build)"
"$VENV/bin/pip" install --quiet --no-cache-dir --force-reinstall --no-deps ./python
cargo build --locked --bin sluice
echo "== pytest python/tests"
cd python/tests
SLUICE_BIN="$OLDPWD/target/debug/sluice" "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, then runs every test of
# every crate (unit, end-to-end, doc tests), then the Python package's pytest suite
# (scripts/test-python.sh). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
cargo test --workspace --locked "$@"
scripts/test-python.sh

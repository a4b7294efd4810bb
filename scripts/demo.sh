#!/usr/bin/env bash
# The main job on the bundled default data: builds sluice and curates the bundled corpus
# (fortunes, Tang poems, SPDX licenses) into out/default. Rerunning resumes/finds it done.
# (Tokenize and train join this once `sluice demo` exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin sluice
./target/release/sluice run pipelines/default.toml "$@"
./target/release/sluice inspect out/default

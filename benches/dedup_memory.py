#!/usr/bin/env python3
"""Peak memory of the two dedup barriers against their `memory_mb`, on the shapes that used
to break the bound:
- many copies of one long document (50,000 copies of a 3,000-word document built from real
  BBC News paragraphs: one huge band bucket, one huge duplicate group);
- millions of short documents: a sentence of BBC News or a fortune plus a counter, so
  exactly distinct but mostly near-duplicates of each other (huge MinHash clusters, the
  worst case for the cluster bookkeeping).

Each run is `sluice run` with one stage (`exact_dedup` or `minhash_dedup`, `memory_mb` as
given) over one JSONL file, with --workers 2. Peak RSS is the process's own (wait4).
    python3 benches/dedup_memory.py --sluice target/release/sluice-curate [--sizes 1000000 5000000] [--json F]
"""
import argparse, gzip, json, os, random, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402


def bbc_paragraphs(cache):
    out = []
    for line in gzip.open(os.path.join(cache, "corpora", "bbc-news", "docs.jsonl.gz"), "rt", encoding="utf-8"):
        out += [p.strip() for p in json.loads(line)["text"].split("\n\n") if len(p.split()) >= 12]
    return out


def sentences(cache, here):
    out = []
    for p in bbc_paragraphs(cache):
        out += [s.strip() for s in p.split(". ") if len(s.split()) >= 6]
    for line in gzip.open(os.path.join(here, "..", "datasets", "data", "default", "fortunes.jsonl.gz"), "rt", encoding="utf-8"):
        t = " ".join(json.loads(line)["text"].split())
        if 30 <= len(t) <= 300:
            out.append(t)
    return out


def write_copies(path, paragraphs, copies, words=3000):
    rng = random.Random(1)
    doc, n = [], 0
    while n < words:
        p = rng.choice(paragraphs)
        doc.append(p)
        n += len(p.split())
    text = "\n\n".join(doc)
    with open(path, "w") as f:
        for i in range(copies):
            f.write(json.dumps({"id": f"c{i}", "text": text}) + "\n")


def write_short(path, sents, n):
    rng = random.Random(2)
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"s{i}", "text": f"{rng.choice(sents)} (item {i})"}) + "\n")


def run(sluice, data, stage, memory_mb, tmp):
    out = os.path.join(tmp, "out")
    shutil.rmtree(out, ignore_errors=True)
    cfg = os.path.join(tmp, "p.toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{data}"]\n[output]\ndir = "{out}"\n'
                f'[[stages]]\ntype = "{stage}"\nmemory_mb = {memory_mb}\n')
    secs, peak, _ = run_peak([sluice, "run", cfg, "--workers", "2"])
    stats = json.load(open(os.path.join(out, "stats.json")))
    dropped = sum(sum(s["rejects"].values()) for s in stats["stages"] if s["name"] == stage)
    return secs, peak, dropped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--cache", default=os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice")))
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--copies", type=int, default=50_000)
    ap.add_argument("--memory-mb", type=int, default=256)
    ap.add_argument("--json")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        cases = [(f"{a.copies:,} copies of one 3,000-word doc", lambda p: write_copies(p, bbc_paragraphs(a.cache), a.copies))]
        if a.copies == 0:
            cases = []
        sents = sentences(a.cache, here)
        cases += [(f"{n:,} short docs (near-dup sentences)", (lambda n: lambda p: write_short(p, sents, n))(n)) for n in a.sizes]
        for name, make in cases:
            data = os.path.join(tmp, "data.jsonl")
            make(data)
            mb = os.path.getsize(data) / 1e6
            for stage in ("exact_dedup", "minhash_dedup"):
                secs, peak, dropped = run(a.sluice, data, stage, a.memory_mb, tmp)
                over = peak - a.memory_mb
                print(f"{name:38} {stage:14} {mb:7.0f} MB  {secs:7.1f} s  peak {peak:6.0f} MB "
                      f"(memory_mb {a.memory_mb}, +{over:.0f})  dropped {dropped:,}", flush=True)
                rows.append({"bench": f"dedup memory: {name} ({mb:.0f} MB)", "tool": f"sluice {stage}",
                             "seconds": secs, "peak_mb": peak,
                             "quality": f"memory_mb {a.memory_mb}, peak - memory_mb = {over:.0f} MB; dropped {dropped:,}",
                             "note": "--workers 2, one input file"})
            os.remove(data)
    emit(a.json, rows)


if __name__ == "__main__":
    main()

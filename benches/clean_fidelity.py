#!/usr/bin/env python3
"""The default `clean` over real code and technical prose (`sluice datasets fetch
python-stdlib linux-docs`): every Python module that compiled before still compiles, every
indented literal block of the kernel's .rst docs keeps its lines (less trailing spaces), and
the share of documents that come out byte-identical. Runs the same with `mode = "prose"` for
contrast.
    python3 benches/clean_fidelity.py --sluice target/release/sluice [--json F]
"""
import argparse, gzip, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402


def compiles(text, name):
    try:
        compile(text, name, "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def literal_blocks(text):
    """Indented blocks after a line ending in `::` (reST literal blocks), trailing spaces cut."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].rstrip().endswith("::"):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block = []
            while j < len(lines) and (not lines[j].strip() or lines[j][:1] in " \t"):
                block.append(lines[j].rstrip())
                j += 1
            while block and not block[-1]:
                block.pop()
            if block:
                blocks.append("\n".join(block))
            i = j
        else:
            i += 1
    return blocks


def run(sluice, corpus, mode, tmp):
    cfg = os.path.join(tmp, f"{os.path.basename(os.path.dirname(corpus))}-{mode}.toml")
    out = cfg[:-5]
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{corpus}"]\n[output]\ndir = "{out}"\njsonl = true\n'
                f'[[stages]]\ntype = "clean"\nmode = "{mode}"\n')
    secs, peak, _ = run_peak([sluice, "run", cfg, "--workers", "1"])
    docs = {}
    for name in sorted(os.listdir(os.path.join(out, "curated-jsonl"))):
        for line in open(os.path.join(out, "curated-jsonl", name), encoding="utf-8"):
            d = json.loads(line)
            docs[d["id"]] = d["text"]
    return docs, secs, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--cache", default=os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice")))
    ap.add_argument("--json")
    a = ap.parse_args()
    corp = lambda n: os.path.join(a.cache, "corpora", n, "docs.jsonl.gz")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("python-stdlib", "linux-docs"):
            before = {}
            for line in gzip.open(corp(name), "rt", encoding="utf-8"):
                d = json.loads(line)
                before[d["id"]] = d["text"]
            for mode in ("preserve", "prose"):
                after, secs, peak = run(a.sluice, corp(name), mode, tmp)
                same = sum(after.get(k) == v for k, v in before.items())
                mb = sum(len(v.encode()) for v in before.values()) / 1e6
                if name == "python-stdlib":
                    ok = [k for k, v in before.items() if compiles(v, k)]
                    still = sum(compiles(after[k], k) for k in ok if k in after)
                    q = f"{still}/{len(ok)} modules still compile, {same}/{len(before)} byte-identical"
                else:
                    blocks = [(k, b) for k, v in before.items() for b in literal_blocks(v)]
                    kept = sum(b in after.get(k, "") for k, b in blocks)
                    q = f"{kept}/{len(blocks)} literal blocks intact, {same}/{len(before)} byte-identical"
                print(f"{name:14} {mode:8} {q}  ({mb:.1f} MB, {secs:.2f} s, {peak:.0f} MB peak)")
                rows.append({"bench": f"clean fidelity: {name} ({mb:.0f} MB)", "tool": f"sluice clean mode={mode}",
                             "seconds": secs, "peak_mb": peak, "quality": q, "note": "1 worker"})
    emit(a.json, rows)


if __name__ == "__main__":
    main()

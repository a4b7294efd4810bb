#!/usr/bin/env python3
"""Incremental dedup at realistic size: --nights nightly batches of --mb MB each of real
documents (the scale bench's composition of bbc-news, linux-docs, python-stdlib,
chinese-poetry and fortunes-zh paragraphs, 10-30 KB each), deduplicated night by night
against a persistent index (`index = ...` on exact_dedup and minhash_dedup), beside one run
over all nights at once (what re-deduplicating the history each night costs).

MinHash: 20 bands x 5 rows (candidates from J ~0.55 up, ~99.96% caught at 0.8) and exact
Jaccard verification at 0.8 deciding, so the LSH S-curve does not hide copies just above
the threshold (the default 19 x 6 banding misses ~1% of pairs at J 0.80-0.89).

Planted in every night: exact and near copies (scale_bench.near_copy: 1 word in 100 changed,
a line appended) of documents of earlier nights (3% each) and of the same night (2% each).

Reported: each night's wall time, MB/s per core and peak RSS (night 10 / night 1 at equal
batch size), the index size per million documents, whether the union of the nightly
survivors equals the one run's survivors, recall of the planted copies, and precision by
brute force: every dropped document that was not planted, and a sample of kept documents,
are compared (word 5-shingle Jaccard, Python) with every document before them.
"""
import argparse, json, os, random, re, shutil, sys, unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402
from scale_bench import near_copy, paragraphs  # noqa: E402

STAGES = """
[[stages]]
type = "exact_dedup"
{exact}
[[stages]]
type = "minhash_dedup"
threshold = 0.8
bands = 20
rows = 5
{near}
"""


def compose(paras, rng):
    names = list(paras)
    dom = rng.choices(names, [4, 3, 2, 1, 1])[0]
    target, parts, n = rng.randrange(10_000, 30_000), [], 0
    while n < target:
        p = rng.choice(paras[dom])
        parts.append(p)
        n += len(p.encode())
    return "\n\n".join(parts)


def build_nights(root, nights, mb, rng):
    """Writes raw/nNN.jsonl per night; returns {id: (kind, original id)} of planted copies."""
    truth_path = os.path.join(root, "truth.json")
    if os.path.exists(truth_path):
        return json.load(open(truth_path))
    paras = paragraphs()
    os.makedirs(os.path.join(root, "raw"), exist_ok=True)
    history, truth = [], {}
    for night in range(nights):
        today, size, i = [], 0, 0
        tmp = os.path.join(root, f"raw/n{night:02}.jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            while size < mb * 1e6:
                r = rng.random()
                doc_id = f"n{night:02}-{i}"
                if history and r < 0.03:
                    (src, text), kind = rng.choice(history), "exact-earlier"
                elif history and r < 0.06:
                    (src, text), kind = rng.choice(history), "near-earlier"
                    text = near_copy(text, rng)
                elif today and r < 0.08:
                    (src, text), kind = rng.choice(today), "exact-same-night"
                elif today and r < 0.10:
                    (src, text), kind = rng.choice(today), "near-same-night"
                    text = near_copy(text, rng)
                else:
                    text, kind, src = compose(paras, rng), None, None
                    today.append((doc_id, text))
                if kind:
                    truth[doc_id] = (kind, src)
                line = json.dumps({"id": doc_id, "text": text, "domain": "mixed"}, ensure_ascii=False)
                f.write(line + "\n")
                size += len(line.encode()) + 1
                i += 1
        os.rename(tmp, tmp[:-4])
        history += today
    json.dump(truth, open(truth_path, "w"))
    return truth


def run(sluice, root, name, inputs, stages, workers):
    cfg = os.path.join(root, f"{name}.toml")
    out = os.path.join(root, "out", name)
    shutil.rmtree(out, ignore_errors=True)
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{inputs}"]\n[output]\ndir = "{out}"\n{stages}')
    wall, peak, _ = run_peak([sluice, "run", cfg, "--workers", str(workers)])
    return wall, peak, out


def kept_and_dropped(out):
    import pyarrow.parquet as pq
    kept = set(pq.read_table(os.path.join(out, "curated"), columns=["id"]).column("id").to_pylist())
    rej = pq.read_table(os.path.join(out, "rejected"), columns=["id", "reason"]).to_pylist()
    return kept, {r["id"]: r["reason"] for r in rej}


CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
TOKEN = re.compile(f"[{CJK}]|[^\\W_{CJK}]+")


def shingles(text, n=5):
    """dedup/src/shingle.rs's word shingles in Python: NFKC, lower case, runs of letters and
    digits, each CJK character a word; 5-grams."""
    w = TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    return {hash(" ".join(w[i:i + n])) for i in range(max(1, len(w) - n + 1))}


def jaccard(a, b):
    return len(a & b) / max(1, len(a | b))


def planted_pairs(root, nights, truth):
    """Jaccard of every planted near copy with its original."""
    want = set(truth) | {src for _, src in truth.values()}
    text = {}
    for night in range(nights):
        for line in open(os.path.join(root, f"raw/n{night:02}.jsonl"), encoding="utf-8"):
            d = json.loads(line)
            if d["id"] in want:
                text[d["id"]] = d["text"]
    return {k: jaccard(shingles(text[k]), shingles(text[src]))
            for k, (kind, src) in truth.items() if kind.startswith("near")}


def brute_force(root, nights, check, threshold=0.8):
    """{id: best Jaccard with any earlier document} for the ids in `check`, by an
    inverted index of their shingles over one pass of every night in order."""
    targets, owner = {}, {}
    order = []
    for night in range(nights):
        for line in open(os.path.join(root, f"raw/n{night:02}.jsonl"), encoding="utf-8"):
            d = json.loads(line)
            order.append(d["id"])
            if d["id"] in check:
                targets[d["id"]] = shingles(d["text"])
    for t, sh in targets.items():
        for h in sh:
            owner.setdefault(h, []).append(t)
    pos = {d: i for i, d in enumerate(order)}
    best = {t: 0.0 for t in targets}
    for night in range(nights):
        for line in open(os.path.join(root, f"raw/n{night:02}.jsonl"), encoding="utf-8"):
            d = json.loads(line)
            mine = shingles(d["text"])
            hits = {}
            for h in mine:
                for t in owner.get(h, ()):
                    hits[t] = hits.get(t, 0) + 1
            for t, inter in hits.items():
                if pos[d["id"]] >= pos[t]:
                    continue
                j = inter / (len(targets[t]) + len(mine) - inter)
                best[t] = max(best[t], j)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default="target/release/sluice-curate")
    ap.add_argument("--workdir", default="out/bench/incremental")
    ap.add_argument("--nights", type=int, default=10)
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--json")
    a = ap.parse_args()
    root = os.path.abspath(a.workdir)
    os.makedirs(root, exist_ok=True)
    rng = random.Random(7)
    truth = build_nights(root, a.nights, a.mb, rng)
    idx = os.path.join(root, "idx")
    shutil.rmtree(idx, ignore_errors=True)
    stages = STAGES.format(exact=f'index = "{idx}/exact"', near=f'index = "{idx}/near"')
    rows, union, dropped = [], set(), {}
    for night in range(a.nights):
        size = os.path.getsize(os.path.join(root, f"raw/n{night:02}.jsonl")) / 1e6
        wall, peak, out = run(a.sluice, root, f"night-{night:02}", f"raw/n{night:02}.jsonl", stages, a.workers)
        k, d = kept_and_dropped(out)
        union |= k
        dropped.update(d)
        rows.append({"night": night + 1, "mb": size, "seconds": wall, "peak_mb": peak,
                     "mb_s_core": size / wall / a.workers, "kept": len(k), "dropped": len(d),
                     "indexed_drops": sum(r.endswith("duplicate_of_indexed") for r in d.values())})
        print(f"night {night + 1}: {size:.0f} MB in {wall:.1f} s ({size / wall / a.workers:.1f} MB/s/core), "
              f"peak {peak:.0f} MB, kept {len(k)}, dropped {len(d)} ({rows[-1]['indexed_drops']} against the index)",
              file=sys.stderr)
    index_bytes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(idx) for f in fs)
    docs = sum(r["kept"] + r["dropped"] for r in rows)
    plain = STAGES.format(exact="", near="")
    wall_all, peak_all, out_all = run(a.sluice, root, "all-at-once", "raw/n*.jsonl", plain, a.workers)
    once, _ = kept_and_dropped(out_all)
    near_j = planted_pairs(root, a.nights, truth)
    # Planted copies that are duplicates at the threshold: every exact copy, and the near
    # copies whose true Jaccard with their original is >= 0.8 (1 word in 100 changed can fall
    # below it in code, where runs of spaces are the "words" near_copy replaces).
    planted = {k for k, (kind, _) in truth.items() if not kind.startswith("near") or near_j[k] >= 0.8}
    below = {k for k in truth if k not in planted}
    caught = planted & set(dropped)
    unplanted_drops = set(dropped) - set(truth)
    sample = sorted(union)
    random.Random(1).shuffle(sample)
    sample = set(sample[: a.sample])
    best = brute_force(root, a.nights, sample | unplanted_drops)
    missed = sorted(t for t in sample if best.get(t, 0) >= 0.8)
    false_drops = sorted(t for t in unplanted_drops if best.get(t, 0) < 0.8)
    ratio = rows[-1]["seconds"] / rows[0]["seconds"]
    summary = {
        "nights": rows, "night_last_over_first": ratio,
        "index_mb": index_bytes / 1e6, "index_mb_per_million_docs": index_bytes / 1e6 / (docs / 1e6),
        "union_equals_one_run": union == once, "union_minus_one_run": len(union - once),
        "one_run_minus_union": len(once - union),
        "all_at_once_seconds": wall_all, "all_at_once_peak_mb": peak_all,
        "planted": len(planted), "planted_dropped": len(caught),
        "planted_near_below_threshold": len(below), "of_those_dropped": len(below & set(dropped)),
        "unplanted_dropped": len(unplanted_drops), "unplanted_dropped_not_duplicates": false_drops,
        "kept_sampled": len(sample), "kept_with_an_earlier_duplicate": missed,
    }
    print(json.dumps(summary, indent=1))
    total_mb = sum(r["mb"] for r in rows)
    emit(a.json, [
        {"bench": f"incremental dedup, {a.nights} nights x {a.mb:.0f} MB", "tool": "sluice (index)",
         "seconds": sum(r["seconds"] for r in rows), "peak_mb": max(r["peak_mb"] for r in rows),
         "quality": f"recall {len(caught)}/{len(planted)}, union==one run: {union == once}",
         "note": f"night {a.nights}/night 1 = {ratio:.2f}x; index {index_bytes / 1e6 / (docs / 1e6):.0f} MB per M docs"},
        {"bench": f"incremental dedup, {a.nights} nights x {a.mb:.0f} MB", "tool": "sluice (one run over all)",
         "seconds": wall_all, "peak_mb": peak_all, "quality": "",
         "note": f"re-deduplicating {total_mb:.0f} MB of history vs night {a.nights} alone: "
                 f"{wall_all / rows[-1]['seconds']:.1f}x"},
    ])


if __name__ == "__main__":
    main()

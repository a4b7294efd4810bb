#!/usr/bin/env python3
"""Scale: throughput per core, peak RSS and dedup recall at realistic size, 1 vs 2 workers.

Data (built once under --workdir, from the fetchable corpora: `sluice datasets fetch --all`):
- `big.jsonl`: --gb GB of documents composed from real paragraphs of bbc-news, linux-docs,
  python-stdlib (code), chinese-poetry and fortunes-zh, 10-30 KB each (mean 20 KB), with
  planted duplicates: 4% exact copies of an earlier document, 4% near copies (1 word in 100
  replaced, one line appended). `many/` holds the same lines cut into 32 files.
- `huge-docs.jsonl`: --huge-gb GB of 1 MB documents (for memory flat in document size).
- `short.jsonl`: --short-docs short documents (a sentence + a counter), one file.

Runs (each `sluice run` as its own process; peak RSS is that process's, via wait4):
- full chain (clean, length, language, gopher_repetition, pii, exact_dedup, minhash_dedup)
  on the big file and on the 32 files, at --workers 1 and 2; the two worker counts must give
  byte-identical curated/ and rejected/;
- filter chain (clean, length, gopher_quality, gopher_repetition, c4_quality,
  fineweb_quality, pii) on the big file and on the 1 MB documents, --workers 2, for RSS;
- minhash_dedup alone on the short documents at 1 and 2 workers (resolve included), and at
  1 and 2 MPI ranks of one worker each (`mpirun -np 2 sluice run`);
- tokenize + pack alone (Qwen3's tokenizer.json, seq_len 2048) on 6 of the 32 files at 1 and
  2 MPI ranks of one worker each: token shards and manifest must be byte-identical.
Recall: planted exact copies dropped by exact_dedup, planted near copies dropped by
minhash_dedup (or exact_dedup), out of those planted.

    python3 benches/scale_bench.py --sluice target/release/sluice-curate --workdir /tmp/scale [--json F]
"""
import argparse, glob, gzip, hashlib, json, os, random, shutil, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402

CACHE = os.path.expanduser(os.environ.get("SLUICE_CACHE", "~/.cache/sluice"))
HERE = os.path.dirname(os.path.abspath(__file__))

FULL = """
[[stages]]
type = "clean"
[[stages]]
type = "length"
min_chars = 20
[[stages]]
type = "language"
keep = ["en", "zh"]
[[stages]]
type = "gopher_repetition"
[[stages]]
type = "pii"
[[stages]]
type = "exact_dedup"
[[stages]]
type = "minhash_dedup"
"""

FILTERS = "".join(f'[[stages]]\ntype = "{t}"\n' for t in [
    "clean", "length", "gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "pii"])

MINHASH = '[[stages]]\ntype = "minhash_dedup"\n'

# Tokenize + pack only (a real pretrained tokenizer, scripts/setup.sh fetches it): each shard
# encodes its documents on the rank that curates it, rank 0 packs.
QWEN3 = os.path.join(CACHE, "pkgs/qwen3/package/models/tokenizer.json")
TOKENIZE = f'[tokenize]\ntokenizer = "{QWEN3}"\nseq_len = 2048\n'


def paragraphs():
    """(domain, paragraphs) of each corpus, real text only."""
    out = {}
    for name in ["bbc-news", "linux-docs", "python-stdlib", "chinese-poetry", "fortunes-zh"]:
        path = os.path.join(CACHE, "corpora", name, "docs.jsonl.gz")
        paras = []
        for line in gzip.open(path, "rt", encoding="utf-8"):
            text = json.loads(line)["text"]
            if name in ("chinese-poetry", "fortunes-zh"):
                paras.append(text.strip())
            else:
                paras += [p for p in text.split("\n\n") if len(p.strip()) >= 40]
        out[name] = paras
    return out


def is_cjk(text):
    han = sum(1 for c in text[:2000] if "\u4e00" <= c <= "\u9fff")
    return han > 0.3 * min(len(text), 2000)


def near_copy(text, rng):
    """1 word in 100 replaced (1 character in 100 for Chinese), one line appended."""
    if is_cjk(text):
        chars = list(text)
        for i in range(0, len(chars), 100):
            chars[min(len(chars) - 1, i + rng.randrange(100))] = rng.choice("山水风月花")
        return "".join(chars) + "\n改过的副本。"
    words = text.split(" ")
    for i in range(0, len(words), 100):
        j = min(len(words) - 1, i + rng.randrange(100))
        words[j] = rng.choice(["data", "river", "stone", "light", "north"])
    return " ".join(words) + "\nEdited copy."


def build_big(path, gb, paras, rng):
    names = list(paras)
    weights = [4, 3, 2, 1, 1]
    recent, truth = [], {"exact": [], "near": []}
    size, i = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while size < gb * 1e9:
            r = rng.random()
            if recent and r < 0.04:
                text, kind = rng.choice(recent), "exact"
            elif recent and r < 0.08:
                text, kind = near_copy(rng.choice(recent), rng), "near"
            else:
                dom = rng.choices(names, weights)[0]
                target, parts, n = rng.randrange(10_000, 30_000), [], 0
                while n < target:
                    p = rng.choice(paras[dom])
                    parts.append(p)
                    n += len(p.encode())
                text, kind = "\n\n".join(parts), None
                recent.append(text)
                if len(recent) > 3000:
                    recent.pop(rng.randrange(len(recent)))
            doc_id = f"d{i}"
            if kind:
                truth[kind].append(doc_id)
            line = json.dumps({"id": doc_id, "text": text, "domain": "mixed"}, ensure_ascii=False) + "\n"
            f.write(line)
            size += len(line.encode())
            i += 1
    return truth


def real_docs(path, gb, rng):
    """`path`: `gb` GB of composed real documents (build_big), built once through a temporary
    name, so an interrupted build is redone rather than read as whole."""
    if not os.path.exists(path):
        build_big(path + ".tmp", gb, paragraphs(), rng)
        os.rename(path + ".tmp", path)
    return path


def split_lines(src, out_dir, files):
    os.makedirs(out_dir, exist_ok=True)
    outs = [open(os.path.join(out_dir, f"part-{k:03}.jsonl"), "w", encoding="utf-8") for k in range(files)]
    total = os.path.getsize(src)
    seen = 0
    with open(src, encoding="utf-8") as f:
        for line in f:
            outs[min(files - 1, seen * files // total)].write(line)
            seen += len(line.encode())
    for o in outs:
        o.close()


def build_huge(path, gb, paras, rng):
    pool = paras["bbc-news"] + paras["linux-docs"]
    size, i = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while size < gb * 1e9:
            parts, n = [], 0
            while n < 1_000_000:
                p = rng.choice(pool)
                parts.append(p)
                n += len(p.encode())
            line = json.dumps({"id": f"h{i}", "text": "\n\n".join(parts)}) + "\n"
            f.write(line)
            size += len(line)
            i += 1


def build_short(path, n):
    from dedup_memory import sentences
    sents = sentences(CACHE, HERE)
    rng = random.Random(2)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"s{i}", "text": f"{rng.choice(sents)} (item {i})"}) + "\n")


def data(workdir, args):
    os.makedirs(workdir, exist_ok=True)
    big, truth_path = os.path.join(workdir, "big.jsonl"), os.path.join(workdir, "truth.json")
    if not os.path.exists(truth_path):
        paras = paragraphs()
        truth = build_big(big + ".tmp", args.gb, paras, random.Random(1))
        os.rename(big + ".tmp", big)
        split_lines(big, os.path.join(workdir, "many"), 32)
        build_huge(os.path.join(workdir, "huge-docs.jsonl"), args.huge_gb, paras, random.Random(3))
        json.dump(truth, open(truth_path, "w"))
    short = os.path.join(workdir, "short.jsonl")
    if args.short_docs and not os.path.exists(short):
        build_short(short + ".tmp", args.short_docs)
        os.rename(short + ".tmp", short)
    return json.load(open(truth_path))


def outputs_digest(out):
    """Curated, rejected and (when packed) the token shards and manifest."""
    h = hashlib.sha256()
    files = [p for d in ["curated", "rejected"] for p in sorted(glob.glob(os.path.join(out, d, "*")))]
    files += sorted(glob.glob(os.path.join(out, "shards", "*", "*"))) + glob.glob(os.path.join(out, "manifest.json"))
    for p in files:
        h.update(os.path.relpath(p, out).encode())
        h.update(open(p, "rb").read())
    return h.hexdigest()[:16]


def run(sluice, workdir, name, inputs, stages, workers, ranks=1):
    cfg = os.path.join(workdir, f"{name}.toml")
    out = os.path.join(workdir, f"out-{name}-w{workers}" + (f"-np{ranks}" if ranks > 1 else ""))
    shutil.rmtree(out, ignore_errors=True)
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{inputs}"]\n[output]\ndir = "{out}"\n{stages}')
    cmd = [sluice, "run", cfg, "--workers", str(workers), "--out", out]
    if ranks > 1:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)] + cmd
    try:
        wall, peak, _ = run_peak(cmd)
    except Exception as e:
        sys.exit(f"{name} --workers {workers} failed:\n{getattr(e, 'stderr', '')[-3000:]}")
    stats = json.load(open(os.path.join(out, "stats.json")))
    mb = stats["stages"][0]["bytes_in"] / 1e6
    row = {"name": name, "workers": workers, "ranks": ranks, "seconds": round(wall, 1), "input_mb": round(mb),
           "mb_s": round(mb / wall, 1), "mb_s_per_core": round(mb / wall / (workers * ranks), 1),
           "peak_mb": round(peak), "digest": outputs_digest(out)}
    for k in range(3):
        t = os.path.join(out, "work", f"phase-{k}", "resolve-time.json")
        if os.path.exists(t):
            row[f"resolve{k}_s"] = json.load(open(t))["seconds"]
    print(json.dumps(row), flush=True)
    return row, out


def recall(out, truth, big):
    """Planted copies that reached the dedup stages (a filter before them may drop a copy
    with its original) and were dropped there. Near copies are split by script: the first
    data sets replaced whole space-free lines of Chinese copies, which are then no longer
    near-duplicates at 0.8."""
    import pyarrow.parquet as pq
    dropped = {}
    for p in glob.glob(os.path.join(out, "rejected", "*.parquet")):
        t = pq.read_table(p, columns=["id", "stage"])
        for i, s in zip(t.column("id").to_pylist(), t.column("stage").to_pylist()):
            dropped[i] = s
    near_ids = set(truth["near"])
    cjk = set()
    with open(big, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["id"] in near_ids and is_cjk(d["text"]):
                cjk.add(d["id"])

    def rate(ids, stages):
        reached = [i for i in ids if dropped.get(i) is None or dropped[i].endswith("_dedup")]
        return round(sum(dropped.get(i) in stages for i in reached) / max(1, len(reached)), 4), len(reached)

    both = ("minhash_dedup", "exact_dedup")
    ex, n_ex = rate(truth["exact"], ("exact_dedup",))
    near, n_near = rate([i for i in truth["near"] if i not in cjk], both)
    near_zh, n_zh = rate([i for i in truth["near"] if i in cjk], both)
    planted = set(truth["exact"]) | near_ids
    other = sum(1 for i, s in dropped.items() if s.endswith("_dedup") and i not in planted)
    return {"exact_recall": ex, "exact_reached": n_ex, "near_recall": near, "near_reached": n_near,
            "near_zh_recall": near_zh, "near_zh_reached": n_zh, "other_dedup_drops": other}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(HERE, "..", "target/release/sluice-curate"))
    ap.add_argument("--workdir", default="/tmp/sluice-scale")
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--huge-gb", type=float, default=1.0)
    ap.add_argument("--short-docs", type=int, default=5_100_000)
    ap.add_argument("--only", default="full,filters,minhash,mpi,tokenize")
    ap.add_argument("--tokenize-files", type=int, default=6, help="files of many/ packed by the tokenize runs")
    ap.add_argument("--json")
    args = ap.parse_args()
    truth = data(args.workdir, args)
    w, rows = args.workdir, []
    only = args.only.split(",")
    if "full" in only:
        for inputs, label in [(f"{w}/big.jsonl", "full-one-file"), (f"{w}/many", "full-32-files")]:
            res = [run(args.sluice, w, label, inputs, FULL, k) for k in (1, 2)]
            (r1, _), (r2, out2) = res
            rec = recall(out2, truth, f"{w}/big.jsonl")
            same = r1["digest"] == r2["digest"]
            print(f"{label}: speedup {r1['seconds'] / r2['seconds']:.2f}x, identical={same}, {rec}", flush=True)
            for r, _ in res:
                r.update(rec, identical_across_workers=same)
                rows.append(r)
    if "filters" in only:
        for inputs, label in [(f"{w}/big.jsonl", "filters-20KB-docs"), (f"{w}/huge-docs.jsonl", "filters-1MB-docs")]:
            rows.append(run(args.sluice, w, label, inputs, FILTERS, 2)[0])
    if "minhash" in only and args.short_docs:
        res = [run(args.sluice, w, "minhash-short", f"{w}/short.jsonl", MINHASH, k)[0] for k in (1, 2)]
        print(f"minhash-short: speedup {res[0]['seconds'] / res[1]['seconds']:.2f}x, resolve "
              f"{res[0].get('resolve0_s', 0) / max(1e-9, res[1].get('resolve0_s', 1)):.2f}x, "
              f"identical={res[0]['digest'] == res[1]['digest']}", flush=True)
        rows += res
    if "mpi" in only and args.short_docs:
        # 1 vs 2 MPI ranks of one worker each (ranks split the shards and the dedup
        # partitions; rank 0 runs the union-find), same input as minhash-short.
        res = [run(args.sluice, w, "minhash-short", f"{w}/short.jsonl", MINHASH, 1, ranks=k)[0] for k in (1, 2)]
        print(f"minhash-short mpi: speedup {res[0]['seconds'] / res[1]['seconds']:.2f}x, "
              f"identical={res[0]['digest'] == res[1]['digest']}", flush=True)
        rows += res
    if "tokenize" in only:
        # 1 vs 2 MPI ranks of one worker each, --tokenize-files of the 32 files (a shard each).
        tok_in = os.path.join(w, "tokenize-input")
        os.makedirs(tok_in, exist_ok=True)
        for k in range(args.tokenize_files):
            link = os.path.join(tok_in, f"part-{k:03}.jsonl")
            if not os.path.exists(link):
                os.symlink(os.path.join(w, "many", f"part-{k:03}.jsonl"), link)
        res = [run(args.sluice, w, "tokenize", tok_in, TOKENIZE, 1, ranks=k)[0] for k in (1, 2)]
        print(f"tokenize mpi: speedup {res[0]['seconds'] / res[1]['seconds']:.2f}x, "
              f"identical={res[0]['digest'] == res[1]['digest']}", flush=True)
        for r in res:
            r["identical_across_ranks"] = res[0]["digest"] == res[1]["digest"]
        rows += res
    emit(args.json, [{"bench": f"scale {r['name']} w{r['workers']}" + (f" np{r['ranks']}" if r["ranks"] > 1 else ""), "tool": "sluice", "seconds": r["seconds"],
                      "peak_mb": r["peak_mb"], "quality": r.get("near_recall"), "note": json.dumps(r)} for r in rows])


if __name__ == "__main__":
    main()

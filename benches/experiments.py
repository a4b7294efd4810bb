#!/usr/bin/env python3
"""Two experiments on the bundled corpus with the tiny GPT (CPU), written to out/exp/:

1. Curated vs raw at equal tokens. 10% of the curated documents (by a hash of their id) are
   held out as the validation set; they are packed on their own and every model validates
   on all of its rows (`data.eval_manifest`). Neither training set holds a held-out
   document nor any document that the curated run's exact or MinHash dedup found to be a
   duplicate of one, so no arm is validated on text it trained on.
   - curated: the curated documents minus the held-out set;
   - raw: the same inputs read with no curation stage, minus the same documents.
   Both train the same steps x batch x seq_len.
2. Loss-weighted vs static mixing on the curated training set: exp3, and DoReMi with the
   static run as its reference model (the DoReMi recipe: a reference trained on the static
   mixture); the reference loss per domain is the static run's mean training loss over its
   last 50 steps, the same kind of loss the mixing rule sees. For each domain, the first evaluation
   at which the dynamic run reaches the static run's final validation loss.

    scripts/demo.sh                       # makes out/tokenizer.json and out/default
    python3 benches/experiments.py [--steps 300] [--holdout 0.1] [--noise-seeds 1,2] [--reuse]
"""
import argparse, glob, hashlib, json, os, subprocess, time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target/release/sluice")
DATA = os.path.join(ROOT, "datasets/data/default")
CURATED = os.path.join(ROOT, "out/default")
TOKENIZER = os.path.join(ROOT, "out/tokenizer.json")


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})


def read_dir(d):
    files = sorted(glob.glob(os.path.join(d, "*.parquet")))
    return pa.concat_tables([pq.read_table(f, columns=["id", "text", "domain"]) for f in files]).to_pylist()


def norm_id(i):
    # Text-directory ids are paths relative to the pipeline file; compare from the corpus root.
    k = i.find("datasets/data/default/")
    return i[k + len("datasets/data/default/"):] if k >= 0 else i


def held_out(i, frac):
    h = int.from_bytes(hashlib.blake2b(norm_id(i).encode(), digest_size=8).digest(), "little")
    return h % 10_000 < frac * 10_000


def read_raw(exp):
    cfg = os.path.join(exp, "raw-all.toml")
    with open(cfg, "w") as f:
        f.write(f'''[[input]]
paths = ["{DATA}/fortunes.jsonl.gz"]
[[input]]
paths = ["{DATA}/tang-poems.parquet"]
default_domain = "poetry-zh"
[[input]]
paths = ["{DATA}/licenses"]
format = "text"
domain_from_dir = true
[output]
dir = "raw-all"
''')
    sh(SLUICE, "run", cfg)
    return read_dir(os.path.join(exp, "raw-all/curated"))


def pack(exp, name, docs):
    src = os.path.join(exp, name + ".jsonl")
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"], "domain": d["domain"]}, ensure_ascii=False) + "\n")
    cfg = os.path.join(exp, name + "-pack.toml")
    with open(cfg, "w") as f:
        f.write(f'''[[input]]
paths = ["{src}"]
[output]
dir = "{name}"
[tokenize]
tokenizer = "{TOKENIZER}"
eos_token = "<|endoftext|>"
pad_token = "<|pad|>"
seq_len = 256
''')
    sh(SLUICE, "run", cfg)
    m = json.load(open(os.path.join(exp, name, "manifest.json")))
    return os.path.join(exp, name, "manifest.json"), sum(d["tokens"] for d in m["domains"].values())


def split(exp, frac):
    curated = read_dir(os.path.join(CURATED, "curated"))
    held = {norm_id(d["id"]) for d in curated if held_out(d["id"], frac)}
    excluded = set(held)
    for f in glob.glob(os.path.join(CURATED, "rejected/*.parquet")):
        for r in pq.read_table(f, columns=["id", "stage", "detail"]).to_pylist():
            if r["stage"] in ("exact_dedup", "minhash_dedup") and r["detail"]:
                survivor = r["detail"].rsplit(" of ", 1)[-1]
                if norm_id(survivor) in held:
                    excluded.add(norm_id(r["id"]))
    raw = read_raw(exp)
    sets = {
        "heldout": [d for d in curated if norm_id(d["id"]) in held],
        "curated-train": [d for d in curated if norm_id(d["id"]) not in held],
        "raw-train": [d for d in raw if norm_id(d["id"]) not in excluded],
    }
    info = {"excluded_from_raw": len(excluded), "raw_docs": len(raw)}
    for k, docs in sets.items():
        man, tokens = pack(exp, k, docs)
        info[k] = {"docs": len(docs), "tokens": tokens, "manifest": man}
    return info


def train(exp, name, manifest, eval_manifest, rule, steps, eta=0.1, reference=None, seed=None):
    # run.seed defaults to 1; the main runs use the default, --noise-seeds others.
    if seed is not None:
        name = f"{name}-seed{seed}"
    out = os.path.join(exp, name)
    cfg = out + ".toml"
    ref = ""
    if reference:
        ref = "reference_loss = { " + ", ".join(f'"{k}" = {v:.6f}' for k, v in sorted(reference.items()) if k != "_all") + " }\n"
    with open(cfg, "w") as f:
        f.write(f'''[data]
manifest = "{manifest}"
eval_manifest = "{eval_manifest}"
val_fraction = 0.0
[model]
preset = "tiny"
[optim]
lr = 0.003
warmup_steps = 20
max_steps = {steps}
batch_size = 16
[eval]
every = 25
rows_per_domain = 1000
[mixing]
rule = "{rule}"
update_every = 10
eta = {eta}
min_weight = 0.02
{ref}[run]
out_dir = "{out}"
seed = {1 if seed is None else seed}
checkpoint_every = 0
''')
    t0 = time.time()
    sh(SLUICE, "train", cfg)
    log = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    evals = [(e["step"] + 1, e["eval"]) for e in log if "eval" in e]
    weights = [json.loads(l) for l in open(os.path.join(out, "weights.jsonl"))] if os.path.exists(os.path.join(out, "weights.jsonl")) else []
    tail = [e["domain_loss"] for e in log if "domain_loss" in e][-50:]
    train_tail = {d: sum(t[d] for t in tail if d in t) / max(1, sum(d in t for t in tail))
                  for d in sorted({d for t in tail for d in t})}
    return {"evals": evals, "final": evals[-1][1], "seconds": time.time() - t0,
            "final_weights": weights[-1] if weights else None, "train_loss_last50": train_tail}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--reuse", action="store_true",
                    help="keep the split and runs already in out/exp/results.json; add only missing ones")
    ap.add_argument("--noise-seeds", default="",
                    help="comma-separated extra seeds (the main runs use 1) for the two static runs: seed-to-seed spread")
    a = ap.parse_args()
    exp = os.path.join(ROOT, "out/exp")
    os.makedirs(exp, exist_ok=True)
    results = os.path.join(exp, "results.json")
    if a.reuse and os.path.exists(results):
        runs = json.load(open(results))
        info = runs["split"]
    else:
        info = split(exp, a.holdout)
        runs = {"split": info}
    ev = info["heldout"]["manifest"]
    cur, raw = info["curated-train"]["manifest"], info["raw-train"]["manifest"]
    if "curated-static" not in runs:
        runs["curated-static"] = train(exp, "curated-static", cur, ev, "static", a.steps)
        runs["raw-static"] = train(exp, "raw-static", raw, ev, "static", a.steps)
        runs["curated-exp3"] = train(exp, "curated-exp3", cur, ev, "exp3", a.steps)
        runs["curated-doremi"] = train(exp, "curated-doremi", cur, ev, "doremi", a.steps, eta=1.0,
                                       reference=runs["curated-static"]["train_loss_last50"])
    for seed in [int(x) for x in a.noise_seeds.split(",") if x]:
        if seed == 1 or f"raw-static-seed{seed}" in runs:
            continue
        runs[f"curated-static-seed{seed}"] = train(exp, "curated-static", cur, ev, "static", a.steps, seed=seed)
        runs[f"raw-static-seed{seed}"] = train(exp, "raw-static", raw, ev, "static", a.steps, seed=seed)
    json.dump(runs, open(os.path.join(exp, "results.json"), "w"), indent=1)
    report(runs, a.steps)


def report(runs, steps):
    info = runs["split"]
    tokens = steps * 16 * 256
    print(f"tiny GPT, {steps} steps x 16 x 256 = {tokens:,} training tokens per run; "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"held out: {info['heldout']['docs']} curated docs ({info['heldout']['tokens']:,} tokens); "
          f"curated train {info['curated-train']['docs']} docs / {info['curated-train']['tokens']:,} tokens; "
          f"raw train {info['raw-train']['docs']} docs / {info['raw-train']['tokens']:,} tokens "
          f"({info['excluded_from_raw']} of {info['raw_docs']} raw docs excluded as held out or their duplicates)")
    print("\n1. curated vs raw at equal tokens (final validation loss on the held-out set)")
    c, r = runs["curated-static"]["final"], runs["raw-static"]["final"]
    print(f"{'domain':<14}{'curated':>9}{'raw':>9}")
    for d in sorted(c):
        print(f"{d:<14}{c[d]:>9.3f}{r.get(d, float('nan')):>9.3f}")
    seeds = sorted(k.rsplit("seed", 1)[1] for k in runs if k.startswith("curated-static-seed"))
    if seeds:
        print("\nseed to seed (final validation loss, all domains):")
        print(f"{'seed':<6}{'curated':>9}{'raw':>9}{'raw - curated':>15}")
        for s in ["1"] + seeds:
            k = "" if s == "1" else f"-seed{s}"
            cc, rr = runs["curated-static" + k]["final"]["_all"], runs["raw-static" + k]["final"]["_all"]
            print(f"{s:<6}{cc:>9.3f}{rr:>9.3f}{rr - cc:>+15.3f}")
    print("\n2. steps to reach the static run's final validation loss (final loss in brackets)")
    static = runs["curated-static"]["final"]
    print(f"{'domain':<14}{'static':>9}{'exp3':>20}{'doremi':>20}")
    for d in sorted(static):
        row = f"{d:<14}{static[d]:>9.3f}"
        for k in ("curated-exp3", "curated-doremi"):
            hit = next((s for s, e in runs[k]["evals"] if e.get(d, 1e9) <= static[d]), None)
            row += f"{(str(hit) if hit else 'not reached') + ' (' + format(runs[k]['final'][d], '.3f') + ')':>20}"
        print(row)
    for k in ("curated-exp3", "curated-doremi"):
        w = runs[k].get("final_weights")
        if w:
            names = sorted(static)
            names.remove("_all")
            ws = w.get("weights", [])
            print(f"\n{k} final weights: " + ", ".join(f"{n} {x:.3f}" for n, x in zip(names, ws)))


if __name__ == "__main__":
    main()

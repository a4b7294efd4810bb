#!/usr/bin/env python3
"""Two experiments on the bundled corpus with the tiny GPT (CPU), written to out/exp/:

1. Curated vs raw at equal tokens: the same inputs packed without any curation stage
   (pipelines/default.toml minus its [[stages]]) vs the curated run; both models train the
   same steps x batch x seq_len and are validated on the curated run's held-out rows.
2. Loss-weighted vs static mixing on the curated data: exp3 and DoReMi against static
   weights (by tokens); for each domain, the first evaluation at which the dynamic run
   reaches the static run's final validation loss.

    scripts/demo.sh                       # makes out/tokenizer.json and out/default
    python3 benches/experiments.py [--steps 300]
"""
import argparse, json, os, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target/release/sluice")
DATA = os.path.join(ROOT, "datasets/data/default")


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})


def raw_manifest(exp):
    cfg = os.path.join(exp, "raw.toml")
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
dir = "raw"
[tokenize]
tokenizer = "{ROOT}/out/tokenizer.json"
seq_len = 256
''')
    sh(SLUICE, "run", cfg)
    return os.path.join(exp, "raw/manifest.json")


def train(exp, name, manifest, rule, steps, eta=0.1):
    out = os.path.join(exp, name)
    cfg = out + ".toml"
    with open(cfg, "w") as f:
        f.write(f'''[data]
manifest = "{manifest}"
eval_manifest = "{ROOT}/out/default/manifest.json"
val_fraction = 0.05
[model]
preset = "tiny"
[optim]
lr = 0.003
warmup_steps = 20
max_steps = {steps}
batch_size = 16
[eval]
every = 25
rows_per_domain = 32
[mixing]
rule = "{rule}"
update_every = 10
eta = {eta}
min_weight = 0.02
[run]
out_dir = "{out}"
checkpoint_every = 0
''')
    t0 = time.time()
    sh(SLUICE, "train", cfg)
    evals = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    evals = [(e["step"] + 1, e["eval"]) for e in evals if "eval" in e]
    return {"evals": evals, "final": evals[-1][1], "seconds": time.time() - t0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    exp = os.path.join(ROOT, "out/exp")
    os.makedirs(exp, exist_ok=True)
    curated = os.path.join(ROOT, "out/default/manifest.json")
    raw = raw_manifest(exp)
    runs = {
        "curated-static": train(exp, "curated-static", curated, "static", a.steps),
        "raw-static": train(exp, "raw-static", raw, "static", a.steps),
        "curated-exp3": train(exp, "curated-exp3", curated, "exp3", a.steps),
        "curated-doremi": train(exp, "curated-doremi", curated, "doremi", a.steps, eta=1.0),
    }
    json.dump(runs, open(os.path.join(exp, "results.json"), "w"), indent=1)
    tokens = a.steps * 16 * 256
    print(f"tiny GPT, {a.steps} steps x 16 x 256 = {tokens:,} training tokens per run, "
          f"validated on the curated held-out rows; {time.strftime('%Y-%m-%d')}")
    print("\n1. curated vs raw at equal tokens (final validation loss)")
    c, r = runs["curated-static"]["final"], runs["raw-static"]["final"]
    print(f"{'domain':<14}{'curated':>9}{'raw':>9}")
    for d in sorted(c):
        print(f"{d:<14}{c[d]:>9.3f}{r.get(d, float('nan')):>9.3f}")
    print("\n2. steps to reach the static run's final validation loss")
    static = runs["curated-static"]["final"]
    print(f"{'domain':<14}{'static':>9}{'exp3':>14}{'doremi':>14}")
    for d in sorted(static):
        row = f"{d:<14}{static[d]:>9.3f}"
        for k in ("curated-exp3", "curated-doremi"):
            hit = next((s for s, e in runs[k]["evals"] if e.get(d, 1e9) <= static[d]), None)
            row += f"{(str(hit) if hit else 'not reached') + ' (' + format(runs[k]['final'][d], '.3f') + ')':>14}"
        print(row)


if __name__ == "__main__":
    main()

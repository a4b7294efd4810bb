#!/usr/bin/env python3
"""Does curation pay off, and does loss-weighted mixing beat static mixing? One command reruns
the whole study, written to out/exp/ (results.json, and the markdown table on stdout):

Data: the fetchable real corpora, with their real imbalance and redundancy (`sluice datasets
fetch`): BBC news (5 domains), the Linux kernel docs (English, and its translations as
kernel-docs-intl), the Python standard library (code), the complete Tang and Song poems with
the 300 Tang poems of fortunes-zh folded into poetry-tang (a second edition of the same
poems), Chinese fortunes, Shakespeare (each play in modern and First Folio spelling) and all
SPDX licenses (many near-duplicate variants).

Held out: 5% of each domain's curated documents (by a hash of the id), packed alone; every
run validates on all of their rows. No training set holds a held-out document or a document
that the curated run's exact or MinHash dedup found to duplicate one.

Arms, at equal training tokens, each with --seeds seeds (model init and sampling), named
on --arms:
- `static` (curated, static by tokens), `uniform` (static, equal weights), `hard`
  (static by tokens, hard_fraction 0.25), `raw` (no curation stage, static by tokens);
- `exp3@ETA` and `doremi@ETA` (curated, starting by tokens; `exp3` and `doremi` take
  --eta-exp3 / --eta-doremi, `exp3x10` ten times --eta-exp3), each optionally `:uniform`
  (starting from equal weights). DoReMi's reference loss per domain: the static runs' mean
  training loss over their last 50 steps (a proxy reference run, as in DoReMi).

Metrics on the held-out set: token-weighted loss (`_all`), the domain average (each domain
weighted equally: what DoReMi and ODM aim at) and the worst domain; mean ± std over seeds;
for each dynamic arm, the first evaluation at which it reaches the static run's final value
of each metric. How far the mixture travelled: the L1 distance between the first and last
weights, and the largest change of one domain's weight.

    python3 benches/experiments.py [--preset small] [--steps 600] [--seeds 1,2,3] [--reuse]
        [--arms ...] [--jobs 2 --threads 1] [--sluice target/debug/sluice]

The defaults are the 2026-11-29 study of docs/EXPERIMENTS.md (~3.5 h on 2 cores).
"""
import argparse, concurrent.futures, glob, gzip, hashlib, json, math, os, statistics, subprocess, time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target/release/sluice")
CACHE = os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice"))
CORPORA = ["bbc-news", "linux-docs", "python-stdlib", "chinese-poetry", "fortunes-zh", "shakespeare",
           "spdx-licenses"]
RENAME = {"tang300": "poetry-tang", "song100": "poetry-song", "chinese": "fortunes-zh"}
ARMS = ["static", "exp3", "exp3x10", "doremi", "raw", "uniform", "hard"]


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})


def domain_of(d):
    name = d.get("domain") or "unknown"
    if name.startswith("kernel-docs-"):
        return "kernel-docs-intl"
    return RENAME.get(name, name)


def h(i, salt=""):
    return int.from_bytes(hashlib.blake2b((salt + i).encode(), digest_size=8).digest(), "little")


def gather(exp):
    """All documents of the corpora as one JSONL with the study's domains."""
    sh(SLUICE, "datasets", "fetch", *CORPORA)
    path = os.path.join(exp, "all.jsonl")
    counts = {}
    with open(path, "w") as out:
        for c in CORPORA:
            for line in gzip.open(os.path.join(CACHE, "corpora", c, "docs.jsonl.gz"), "rt"):
                d = json.loads(line)
                dom = domain_of(d)
                counts[dom] = counts.get(dom, 0) + 1
                out.write(json.dumps({"id": f"{c}/{d['id']}", "text": d["text"], "domain": dom},
                                     ensure_ascii=False) + "\n")
    return path, counts


CURATE = """
[[stages]]
type = "clean"
[[stages]]
type = "length"
min_chars = 20
max_chars = 500000
[[stages]]
type = "exact_dedup"
normalize = true
[[stages]]
type = "minhash_dedup"
threshold = 0.8
verify = "exact"
keep = "longest"
"""


def run_pipeline(exp, name, src, stages):
    cfg = os.path.join(exp, name + ".toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{src}"]\n[output]\ndir = "{name}"\njsonl = false\n{stages}')
    sh(SLUICE, "run", cfg)
    files = sorted(glob.glob(os.path.join(exp, name, "curated", "*.parquet")))
    return pa.concat_tables([pq.read_table(f, columns=["id", "text", "domain"]) for f in files]).to_pylist()


def pack(exp, name, docs, tokenizer, seq_len):
    src = os.path.join(exp, name + ".jsonl")
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    cfg = os.path.join(exp, name + "-pack.toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{src}"]\n[output]\ndir = "{name}"\njsonl = false\n'
                f'[tokenize]\ntokenizer = "{tokenizer}"\nseq_len = {seq_len}\n')
    sh(SLUICE, "run", cfg)
    m = json.load(open(os.path.join(exp, name, "manifest.json")))
    return {"manifest": os.path.join(exp, name, "manifest.json"), "docs": len(docs),
            "tokens": {k: v["tokens"] for k, v in m["domains"].items()}}


def split(exp, holdout, seq_len):
    src, counts = gather(exp)
    curated = run_pipeline(exp, "curated-all", src, CURATE)
    raw = run_pipeline(exp, "raw-all", src, "")
    by_dom = {}
    for d in curated:
        by_dom.setdefault(d["domain"], []).append(d)
    held = set()
    for dom, docs in by_dom.items():
        docs.sort(key=lambda d: h(d["id"]))
        held |= {d["id"] for d in docs[:max(1, round(holdout * len(docs)))]}
    excluded = set(held)
    for f in glob.glob(os.path.join(exp, "curated-all", "rejected", "*.parquet")):
        for r in pq.read_table(f, columns=["id", "stage", "detail"]).to_pylist():
            if r["stage"] in ("exact_dedup", "minhash_dedup") and r["detail"]:
                if r["detail"].rsplit(" of ", 1)[-1] in held:
                    excluded.add(r["id"])
    tok = os.path.join(exp, "tokenizer.json")
    if not os.path.exists(tok):
        sh(SLUICE, "tokenizer", "train", "--input", src, "--vocab-size", "8000", "--out", tok)
    info = {"input_docs": counts, "curated_docs": len(curated), "raw_docs": len(raw),
            "excluded_from_training": len(excluded)}
    info["heldout"] = pack(exp, "heldout", [d for d in curated if d["id"] in held], tok, seq_len)
    info["curated"] = pack(exp, "curated-train", [d for d in curated if d["id"] not in held], tok, seq_len)
    info["raw"] = pack(exp, "raw-train", [d for d in raw if d["id"] not in excluded], tok, seq_len)
    return info


def train(exp, name, manifest, eval_manifest, a, seed, mixing):
    out = os.path.join(exp, "runs", f"{name}-s{seed}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cfg = out + ".toml"
    with open(cfg, "w") as f:
        f.write(f'''[data]
manifest = "{manifest}"
eval_manifest = "{eval_manifest}"
val_fraction = 0.0
[model]
preset = "{a.preset}"
[optim]
lr = {a.lr}
warmup_steps = {max(10, a.steps // 20)}
max_steps = {a.steps}
batch_size = {a.batch}
[eval]
every = {a.eval_every}
rows_per_domain = {a.eval_rows}
[mixing]
{mixing}
[run]
out_dir = "{out}"
seed = {seed}
threads = {a.threads}
checkpoint_every = 0
''')
    t0 = time.time()
    sh(SLUICE, "train", cfg)
    secs = time.time() - t0
    log = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    evals = [(e["step"] + 1, e["eval"]) for e in log if "eval" in e]
    wpath = os.path.join(out, "weights.jsonl")
    weights = [json.loads(l) for l in open(wpath)] if os.path.exists(wpath) else []
    tail = [e["domain_loss"] for e in log if "domain_loss" in e][-50:]
    train_tail = {d: statistics.mean(t[d] for t in tail if d in t) for d in sorted({d for t in tail for d in t})}
    return {"evals": evals, "seconds": secs, "weights": [w["weights"] for w in weights],
            "train_loss_last50": train_tail}


HELD_TOKENS = {}  # held-out tokens per domain: the weights of the token-weighted loss


def metrics(ev):
    """Token-weighted (each domain by its share of the held-out tokens: the natural mixture;
    `_all` would weight the evaluated rows, which are capped per domain), domain average,
    worst domain."""
    doms = {k: v for k, v in ev.items() if k != "_all"}
    w = {k: HELD_TOKENS.get(k, 1.0) for k in doms}
    tw = sum(w[k] * v for k, v in doms.items()) / sum(w.values())
    return {"token-weighted": tw, "domain-average": statistics.mean(doms.values()),
            "worst-domain": max(doms.values())}


def rule_of(arm):
    """(rule, eta, start) of a dynamic arm: `exp3`, `exp3x10`, `doremi` (the --eta-* options)
    or `exp3@ETA`, `doremi@ETA`, each optionally `:uniform` (start "uniform": from equal
    weights instead of by tokens); (None, None, None) for the static arms."""
    spec, *start = arm.split(":")
    rule, _, eta = spec.partition("@")
    if rule not in ("exp3", "exp3x10", "doremi") or start not in ([], ["uniform"]):
        return None, None, None
    return rule, float(eta) if eta else None, start[0] if start else None


def mixing_of(arm, a, names, reference):
    uniform = "weights = { " + ", ".join(f'"{n}" = 1.0' for n in names) + " }"
    if arm in ("static", "raw"):
        return 'rule = "static"'
    if arm == "uniform":
        return 'rule = "static"\n' + uniform
    if arm == "hard":
        return 'rule = "static"\nhard_fraction = 0.25'
    rule, eta, start = rule_of(arm)
    start = "\n" + uniform if start == "uniform" else ""
    if rule in ("exp3", "exp3x10"):
        eta = eta or a.eta_exp3 * (10 if rule == "exp3x10" else 1)
        return f'rule = "exp3"\nupdate_every = {a.update_every}\neta = {eta}' + start
    ref = ", ".join(f'"{k}" = {v:.6f}' for k, v in sorted(reference.items()))
    eta = eta or a.eta_doremi
    return f'rule = "doremi"\nupdate_every = {a.update_every}\neta = {eta}\nreference_loss = {{ {ref} }}' + start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--arms", default="static,uniform,exp3@1,exp3@1:uniform,doremi@3,hard,raw")
    ap.add_argument("--update-every", type=int, default=10)
    ap.add_argument("--eta-exp3", type=float, default=0.1)
    ap.add_argument("--eta-doremi", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once, each with --threads")
    ap.add_argument("--holdout", type=float, default=0.05)
    ap.add_argument("--out", default=os.path.join(ROOT, "out/exp"))
    ap.add_argument("--eval-rows", type=int, default=64, help="held-out rows per domain in each evaluation")
    ap.add_argument("--reuse", action="store_true", help="keep the data and the runs already in results.json")
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--sluice", default=SLUICE)
    a = ap.parse_args()
    globals()["SLUICE"] = os.path.abspath(a.sluice)
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    results = os.path.join(a.out, "results.json")
    runs = json.load(open(results)) if a.reuse and os.path.exists(results) else {}
    if "data" not in runs:
        runs["data"] = split(a.out, a.holdout, a.seq_len)
    runs["config"] = {k: v for k, v in vars(a).items() if k not in ("out", "reuse", "data_only", "sluice")}
    if a.data_only:
        json.dump(runs, open(results, "w"), indent=1)
        print(json.dumps({k: v for k, v in runs["data"].items()}, indent=1))
        return
    data = runs["data"]
    HELD_TOKENS.update(data["heldout"]["tokens"])
    names = sorted(data["curated"]["tokens"])
    seeds = [int(s) for s in a.seeds.split(",")]
    arms = a.arms.split(",")
    unknown = [x for x in arms if x not in ARMS and rule_of(x)[0] is None]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; the arms are {ARMS}, exp3@ETA and doremi@ETA "
                         "(each optionally :uniform)")
    if any(rule_of(x)[0] == "doremi" for x in arms) and "static" not in arms:
        raise SystemExit("the doremi arms take their reference from the static arm: add static to --arms")
    statics = {}  # seed -> the future of its static run, when this invocation trains it

    def job(arm, seed):
        reference = {}
        if rule_of(arm)[0] == "doremi":
            # Its reference: the static runs' training loss (waits for them).
            tails = [(statics[s].result() if s in statics else runs["runs"][f"static-s{s}"])["train_loss_last50"]
                     for s in seeds]
            reference = {n: statistics.mean(t[n] for t in tails if n in t) for n in names}
        manifest = data["raw" if arm == "raw" else "curated"]["manifest"]
        return train(a.out, arm, manifest, data["heldout"]["manifest"], a, seed, mixing_of(arm, a, names, reference))

    # Static first, doremi last (its reference comes from static); --jobs runs at once.
    order = sorted(arms, key=lambda x: (x != "static", rule_of(x)[0] == "doremi"))
    todo = [(arm, s) for arm in order for s in seeds if f"{arm}-s{s}" not in runs.get("runs", {})]
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        futures = {}
        for arm, s in todo:
            f = pool.submit(job, arm, s)
            futures[f] = f"{arm}-s{s}"
            if arm == "static":
                statics[s] = f
        for f in concurrent.futures.as_completed(futures):
            key, r = futures[f], f.result()
            runs.setdefault("runs", {})[key] = r
            json.dump(runs, open(results, "w"), indent=1)
            print(f"{key}: {r['seconds']:.0f} s, final {metrics(r['evals'][-1][1])}", flush=True)
    report(runs, seeds, arms)


def fmt(xs):
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def report(runs, seeds, arms):
    c, data = runs["config"], runs["data"]
    tokens = c["steps"] * c["batch"] * c["seq_len"]
    rs = runs["runs"]
    secs = {arm: statistics.mean(rs[f"{arm}-s{s}"]["seconds"] for s in seeds) for arm in arms}
    print(f"\n{c['preset']} GPT, {c['steps']} steps x {c['batch']} x {c['seq_len']} = {tokens:,} training "
          f"tokens per run, {len(seeds)} seeds; {time.strftime('%Y-%m-%d')}; minutes per run: "
          + ", ".join(f"{k} {v / 60:.1f}" for k, v in secs.items()))
    cur, raw, held = data["curated"], data["raw"], data["heldout"]
    print(f"curated train {sum(cur['tokens'].values()):,} tokens ({cur['docs']} docs), raw train "
          f"{sum(raw['tokens'].values()):,} ({raw['docs']}), held out {sum(held['tokens'].values()):,} "
          f"({held['docs']}); {data['excluded_from_training']} documents excluded from training")
    print("\n| arm | token-weighted | domain average | worst domain | weights travelled (L1) | largest change |")
    print("|---|---|---|---|---|---|")
    for arm in arms:
        m = [metrics(rs[f"{arm}-s{s}"]["evals"][-1][1]) for s in seeds]
        ws = [rs[f"{arm}-s{s}"]["weights"] for s in seeds]
        travel = [sum(abs(x - y) for x, y in zip(w[0], w[-1])) if len(w) > 1 else 0.0 for w in ws]
        most = [max(abs(x - y) for x, y in zip(w[0], w[-1])) if len(w) > 1 else 0.0 for w in ws]
        print(f"| {arm} | " + " | ".join(fmt([x[k] for x in m]) for k in m[0])
              + f" | {statistics.mean(travel):.3f} | {statistics.mean(most):.3f} |")
    doms = sorted(k for k in rs[f"{arms[0]}-s{seeds[0]}"]["evals"][-1][1] if k != "_all")
    print("\nFinal held-out loss per domain (mean over seeds):\n\n| domain | " + " | ".join(arms) + " |")
    print("|---|" + "---|" * len(arms))
    for d in doms:
        print(f"| {d} | " + " | ".join(
            f"{statistics.mean(rs[f'{arm}-s{s}']['evals'][-1][1][d] for s in seeds):.2f}" for arm in arms) + " |")
    print("\nSteps to reach the static run's final value (same seed; median over seeds; '-' = not reached):")
    print("| arm | token-weighted | domain average | worst domain |\n|---|---|---|---|")
    for arm in [x for x in arms if x != "static"]:
        cells = []
        for k in ("token-weighted", "domain-average", "worst-domain"):
            hits = []
            for s in seeds:
                target = metrics(rs[f"static-s{s}"]["evals"][-1][1])[k]
                hit = next((st for st, e in rs[f"{arm}-s{s}"]["evals"] if metrics(e)[k] <= target), None)
                hits.append(hit)
            got = [x for x in hits if x is not None]
            cells.append(f"{statistics.median(got):.0f} ({len(got)}/{len(hits)})" if got else "-")
        print(f"| {arm} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

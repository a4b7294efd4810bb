#!/usr/bin/env python3
"""Per-stage throughput: MB/s per core of each filter stage alone, the whole filter chain and
reading + writing alone (no stages), at 1 and 2 workers, on the same documents, one run.

Data: --mb MB of composed real documents (scale_bench.real_docs: paragraphs of bbc-news,
linux-docs, python-stdlib, chinese-poetry and fortunes-zh, 10-30 KB each), one JSONL file.
Each configuration is a `sluice run` of its own; a stage's MB/s per core is its input bytes
over its CPU seconds in stats.json (the reader's and writer's time excluded), the chain's and
read+write's is input bytes over wall seconds over workers. Medians of --reps runs. The
file is cut into shards of --shard-mb (16): with the default 64, 200 MB is three shards and
two workers finish after two shards' time (at most 1.5x), which measures the cut, not the
workers.

    python3 benches/stage_bench.py --sluice target/release/sluice-curate --workdir out/bench/stages \\
        [--mb 200] [--reps 3] [--docs docs/BENCHMARKS.md]
--docs rewrites the block between the `stage table` markers of that file.
"""
import argparse, json, os, random, shutil, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run_peak  # noqa: E402
from scale_bench import real_docs  # noqa: E402
from summary import machine, write_docs_block  # noqa: E402

STAGES = ["clean", "length", "language", "gopher_quality", "gopher_repetition", "c4_quality",
          "fineweb_quality", "pii"]
EXTRA = {"length": 'min_chars = 20\n', "language": 'keep = ["en", "zh"]\n'}


def stages_toml(names):
    return "".join(f'[[stages]]\ntype = "{s}"\n{EXTRA.get(s, "")}' for s in names)


def run(sluice, work, name, docs, names, workers, shard_mb):
    out = os.path.join(work, f"out-{name}-w{workers}")
    cfg = os.path.join(work, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{docs}"]\n[output]\ndir = "{out}"\n[run]\nshard_mb = {shard_mb}\n'
                f'{stages_toml(names)}')
    shutil.rmtree(out, ignore_errors=True)
    wall, peak, _ = run_peak([sluice, "run", cfg, "--workers", str(workers), "--out", out])
    stats = json.load(open(os.path.join(out, "stats.json")))
    shutil.rmtree(out, ignore_errors=True)
    return wall, peak, stats


def measure(sluice, work, docs, reps, workers, shard_mb):
    """{label: (MB/s per core, peak MB)} for each stage alone, the chain and read+write."""
    res = {}
    mb = os.path.getsize(docs) / 1e6
    for label, names in [("read + write", [])] + [(s, [s]) for s in STAGES] + [("chain", STAGES)]:
        runs = [run(sluice, work, label.replace(" ", "").replace("+", "-"), docs, names, workers,
                    shard_mb) for _ in range(reps)]
        peak = statistics.median(r[1] for r in runs)
        if len(names) == 1:  # stats.json sums the CPU seconds of all workers: per core
            def stage(r):
                return next(s for s in r[2]["stages"] if s["name"] == names[0])
            rate = statistics.median(stage(r)["bytes_in"] / 1e6 / max(1e-9, stage(r)["seconds"]) for r in runs)
        else:
            wall = statistics.median(r[0] for r in runs)
            rate = mb / wall / workers
        res[label] = (rate, peak)
        print(f"w{workers} {label}: {rate:.1f} MB/s per core, peak {peak:.0f} MB", flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--workdir", default="out/bench/stages")
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shard-mb", type=int, default=16)
    ap.add_argument("--docs")
    a = ap.parse_args()
    # The configs name their input by this path, and sluice resolves a relative one from the
    # config's own directory.
    a.workdir = os.path.abspath(a.workdir)
    os.makedirs(a.workdir, exist_ok=True)
    docs = real_docs(os.path.join(a.workdir, f"docs-{a.mb}mb.jsonl"), a.mb / 1000, random.Random(7))
    by_w = {w: measure(a.sluice, a.workdir, docs, a.reps, w, a.shard_mb) for w in (1, 2)}
    lines = ["| configuration | MB/s per core, 1 worker | MB/s per core, 2 workers | peak MB (2 workers) |",
             "|---|---:|---:|---:|"]
    for label in by_w[1]:
        lines.append(f"| {label} | {by_w[1][label][0]:.1f} | {by_w[2][label][0]:.1f} | {by_w[2][label][1]:.0f} |")
    rw, chain = by_w[1]["read + write"][0], by_w[1]["chain"][0]
    text = (f"Measured with `benches/stage_bench.py` ({a.mb} MB of 20 KB real documents in shards of "
            f"{a.shard_mb} MB, medians of {a.reps}) "
            f"on {time.strftime('%Y-%m-%d')}, {machine()}\n\n" + "\n".join(lines) +
            f"\n\nThe chain takes {rw / chain:.1f}x the time of reading + writing alone (1 worker).\n")
    print(text)
    if a.docs:
        write_docs_block(a.docs, text, marker="stage table")


if __name__ == "__main__":
    main()

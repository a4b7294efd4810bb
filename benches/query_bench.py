#!/usr/bin/env python3
"""Looking inside a run at realistic size: `sluice query` vs Python polars vs pandas + pyarrow,
and the `sql_filter` stage vs the `length` stage.

Data: `big.jsonl`, --gb GB of 10-30 KB documents composed from real paragraphs of the
fetchable corpora (benches/scale_bench.py builds it the same way), run once through the filter
chain (clean, length, gopher_quality, gopher_repetition, c4_quality, fineweb_quality, pii) at
--workers 2; its `rejected/` and `curated/` are what the queries read.

Queries (each tool in its own process, --reps times, median wall and peak RSS; every tool
must return the same rows):
- `reasons`: SELECT reason, count(*) AS n FROM rejected GROUP BY reason (one small column);
- `reason-chars`: the same with sum(length(text)) AS chars (reads every rejected text);
- `domain-lengths`: per domain of curated, count and mean length.
sluice: `sluice query OUT SQL --format csv`; polars: scan_parquet + the same query on the
streaming engine; pandas: read_parquet of the needed columns + groupby (pandas loads them).

Stage: the same input through `length` (min 200, max 25000 chars) and through `sql_filter`
with `where = "length(text) >= 200 AND length(text) <= 25000"`, --workers 1: the stage's
own seconds from stats.json (docs/s), and the kept counts must agree.

    python3 benches/query_bench.py --sluice target/release/sluice-curate --python VENV/bin/python [--json F]
"""
import argparse, csv, io, json, os, random, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, run_peak  # noqa: E402
import scale_bench  # noqa: E402

QUERIES = {
    "reasons": ("SELECT reason, count(*) AS n FROM rejected GROUP BY reason ORDER BY reason",
                "rejected", ["reason"], "pl.len().alias('n')", "n=('reason', 'size')"),
    "reason-chars": ("SELECT reason, count(*) AS n, sum(length(text)) AS chars FROM rejected "
                     "GROUP BY reason ORDER BY reason",
                     "rejected", ["reason", "text"],
                     "pl.len().alias('n'), pl.col('text').str.len_chars().sum().alias('chars')",
                     "n=('reason', 'size'), chars=('chars', 'sum')"),
    "domain-lengths": ("SELECT domain, count(*) AS n, sum(length(text)) AS chars FROM curated "
                       "GROUP BY domain ORDER BY domain",
                       "curated", ["domain", "text"],
                       "pl.len().alias('n'), pl.col('text').str.len_chars().sum().alias('chars')",
                       "n=('domain', 'size'), chars=('chars', 'sum')"),
}

POLARS = """
import sys, polars as pl
lf = pl.scan_parquet(sys.argv[1] + "/{table}/*.parquet")
out = lf.group_by("{key}").agg({agg}).sort("{key}").collect(engine="streaming")
out.write_csv(sys.stdout)
"""

PANDAS = """
import sys, pandas as pd
df = pd.read_parquet(sys.argv[1] + "/{table}", columns={cols}, engine="pyarrow")
if "text" in df:
    df["chars"] = df["text"].str.len()
out = df.groupby("{key}").agg({agg}).reset_index().sort_values("{key}")
out.to_csv(sys.stdout, index=False)
"""


def canon(text):
    """CSV rows as a set of tuples without the header, numbers normalised."""
    rows = list(csv.reader(io.StringIO(text.strip())))
    return sorted(tuple(str(int(float(v))) if v.replace(".", "", 1).isdigit() else v for v in r)
                  for r in rows[1:])


def time_all(tools, reps):
    """Each tool's (median seconds, peak MB, output); the tools take turns, so a load that
    comes and goes on the machine falls on all of them alike."""
    runs = {t: [] for t in tools}
    for _ in range(reps):
        for t, cmd in tools.items():
            runs[t].append(run_peak(cmd))
    return {t: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), rs[0][2])
            for t, rs in runs.items()}


def queries(args, out):
    rows = []
    for name, (sql, table, cols, pl_agg, pd_agg) in QUERIES.items():
        key = cols[0]
        tools = {
            "sluice": [args.sluice, "query", out, sql, "--format", "csv"],
            "polars": [args.python, "-c", POLARS.format(table=table, key=key, agg=pl_agg), out],
            "pandas": [args.python, "-c", PANDAS.format(table=table, key=key, cols=cols, agg=pd_agg), out],
        }
        results = time_all(tools, args.reps)
        want = canon(results["sluice"][2])
        for tool, (secs, peak, text) in results.items():
            same = canon(text) == want
            if not same:
                sys.exit(f"{name}: {tool} returned other rows:\n{text}\nsluice:\n{results['sluice'][2]}")
            row = {"query": name, "tool": tool, "seconds": round(secs, 2), "peak_mb": round(peak),
                   "groups": len(want)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def stage_run(args, w, name, stages):
    row, out = scale_bench.run(args.sluice, w, name, f"{w}/big.jsonl", stages, 1)
    stats = json.load(open(os.path.join(out, "stats.json")))
    st = stats["stages"][1]
    row.update(stage_seconds=round(st["seconds"], 2), docs=st["docs_in"], kept=st["docs_out"],
               docs_per_s=round(st["docs_in"] / max(st["seconds"], 1e-9)))
    print(json.dumps(row), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default="target/release/sluice-curate")
    ap.add_argument("--python", default=sys.executable, help="a Python with polars, pandas, pyarrow")
    ap.add_argument("--workdir", default="/tmp/sluice-query")
    ap.add_argument("--gb", type=float, default=1.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    w = args.workdir
    os.makedirs(w, exist_ok=True)
    big = os.path.join(w, "big.jsonl")
    scale_bench.real_docs(big, args.gb, random.Random(1))
    base, out = scale_bench.run(args.sluice, w, "filters", big, scale_bench.FILTERS, 2)
    size = lambda d: sum(os.path.getsize(os.path.join(out, d, f)) for f in os.listdir(os.path.join(out, d)))
    print(f"run: {base['input_mb']} MB in {base['seconds']} s; rejected/ {size('rejected') / 1e6:.0f} MB, "
          f"curated/ {size('curated') / 1e6:.0f} MB", flush=True)
    qrows = queries(args, out)
    length = stage_run(args, w, "length", '[[stages]]\ntype = "length"\nmin_chars = 200\nmax_chars = 25000\n')
    sqlf = stage_run(args, w, "sql_filter", '[[stages]]\ntype = "sql_filter"\n'
                     'where = "length(text) >= 200 AND length(text) <= 25000"\n')
    if length["kept"] != sqlf["kept"]:
        sys.exit(f"length kept {length['kept']}, sql_filter kept {sqlf['kept']}")
    print(f"sql_filter {sqlf['docs_per_s']} docs/s vs length {length['docs_per_s']} docs/s "
          f"({sqlf['docs_per_s'] / length['docs_per_s']:.2f}x)", flush=True)
    res = [{"bench": f"query {r['query']} ({base['input_mb']} MB run)", "tool": r["tool"],
            "seconds": r["seconds"], "peak_mb": r["peak_mb"], "quality": None,
            "note": f"{r['groups']} groups, same rows as sluice"} for r in qrows]
    res += [{"bench": f"stage on {r['docs']} docs ({r['input_mb']} MB)", "tool": f"sluice {r['name']}",
             "seconds": r["stage_seconds"], "peak_mb": r["peak_mb"], "quality": None,
             "note": f"{r['docs_per_s']} docs/s, kept {r['kept']}"} for r in (length, sqlf)]
    emit(args.json, res)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One table from the rows that the benches/ scripts append with --json: for every benchmark,
each tool's median wall time, peak memory (MB, that tool's own process unless the note says
otherwise), quality, and sluice's speed-up over it (its seconds / sluice's seconds).
    python3 benches/summary.py out/bench/results.json [--markdown out/bench/summary.md]
        [--docs docs/BENCHMARKS.md]
--docs rewrites the block between the `run-all table` markers of that file with the table.
"""
import argparse, json, os, platform, time


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def table(rows):
    out = ["| benchmark | tool | seconds | peak MB | quality | sluice speed-up | note |",
           "|---|---|---:|---:|---|---:|---|"]
    benches = []
    for r in rows:
        if r["bench"] not in benches:
            benches.append(r["bench"])
    for b in benches:
        group = [r for r in rows if r["bench"] == b]
        base = next((r for r in group if r["tool"].startswith("sluice")), None)
        for r in group:
            ratio = "—" if base is None or r is base else f"{r['seconds'] / base['seconds']:.2f}x"
            peak = "—" if r.get("peak_mb") is None else f"{r['peak_mb']:.0f}"
            out.append(f"| {b} | {r['tool']} | {r['seconds']:.3f} | {peak} | {r.get('quality', '')} "
                       f"| {ratio} | {r.get('note', '')} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--markdown")
    ap.add_argument("--docs", help="a markdown file whose run-all table block is rewritten")
    a = ap.parse_args()
    rows = json.load(open(a.results))
    text = (f"sluice benchmarks, {time.strftime('%Y-%m-%d', time.localtime(os.path.getmtime(a.results)))}, "
            f"{machine()}\n\n{table(rows)}\n\n"
            "speed-up = the tool's seconds / the first sluice row's seconds in that benchmark "
            "(> 1: sluice is faster). Medians of the repeats each script states.\n")
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.docs:
        write_docs_block(a.docs, "Measured with `benches/run-all.sh` on " + text)


def write_docs_block(path, text, marker="run-all table"):
    """Replaces what lies between the begin and end `marker`s of `path` with `text`."""
    doc = open(path).read()
    begin = doc.index(f"<!-- {marker}: begin")
    begin = doc.index("\n", begin) + 1
    end = doc.index(f"<!-- {marker}: end -->")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc[:begin] + text.strip() + "\n" + doc[end:])
    os.replace(tmp, path)


if __name__ == "__main__":
    main()

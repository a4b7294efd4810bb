#!/usr/bin/env python3
"""Feeding PyTorch from packed token shards, side by side on the same rows:

- sluice: `sluice.ShardDataset` (the Python package; memory-mapped Arrow shards, the
  trainer's sample plan, batches built straight into the tensors' buffers);
- pyarrow: what a user writes by hand: memory-mapped Arrow IPC files, a map-style Dataset of
  rows, `DataLoader(batch_size=B, shuffle=True)`;
- mosaicml streaming: the same rows written once as MDS (not timed), `StreamingDataset`
  (local, shuffled) under a DataLoader.

Each reads `--samples` rows of `seq_len + 1` tokens in batches of `--batch`, yielding int64
inputs and targets, with 0 and 2 DataLoader workers; each (tool, workers) runs in its own
process, the tools take turns per repeat; median samples/s and largest peak RSS (the
process and its workers; mapped shard pages that were touched count).

    benches/loader_bench.py --manifest PACKED/manifest.json [--samples 64000] [--reps 3]
"""
import argparse, json, os, resource, statistics, sys, time

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(HERE))
from common import emit, run_peak  # noqa: E402


def shard_files(manifest):
    m = json.load(open(manifest))
    base = os.path.dirname(os.path.abspath(manifest))
    return m, [os.path.join(base, s["path"]) for d in m["domains"].values() for s in d["shards"]]


def run_sluice(manifest, samples, batch, workers):
    import sluice
    from torch.utils.data import DataLoader
    steps = samples // batch
    ds = sluice.ShardDataset(manifest, batch_size=batch, seed=1, max_steps=steps)
    n, check = 0, 0
    for b in DataLoader(ds, batch_size=None, num_workers=workers):
        n += b["input_ids"].shape[0]
        check += int(b["input_ids"][:, 0].sum()) + int(b["targets"][:, -1].sum())
    return n, check


def run_pyarrow(manifest, samples, batch, workers):
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import torch
    from torch.utils.data import DataLoader, Dataset

    m, files = shard_files(manifest)
    row_len = m["row_len"]

    class Rows(Dataset):
        def __init__(self):
            self.parts = None
            self.starts = [0]
            for f in files:
                self.starts.append(self.starts[-1] + ipc.open_file(pa.memory_map(f)).read_all().num_rows)

        def _open(self):
            # Opened in each worker: zero-copy numpy views of the mapped input_ids.
            self.parts = []
            for f in files:
                t = ipc.open_file(pa.memory_map(f)).read_all()
                for c in t.column("input_ids").chunks:
                    self.parts.append(c.values.to_numpy(zero_copy_only=True).reshape(-1, row_len))
            self.flat_starts = np.cumsum([0] + [p.shape[0] for p in self.parts])

        def __len__(self):
            return self.starts[-1]

        def __getitem__(self, i):
            if self.parts is None:
                self._open()
            k = int(np.searchsorted(self.flat_starts, i, side="right") - 1)
            row = torch.from_numpy(self.parts[k][i - self.flat_starts[k]].astype(np.int64))
            return row[:-1], row[1:]

    g = torch.Generator().manual_seed(1)
    n, check = 0, 0
    for x, y in DataLoader(Rows(), batch_size=batch, shuffle=True, generator=g, num_workers=workers):
        n += x.shape[0]
        check += int(x[:, 0].sum()) + int(y[:, -1].sum())
        if n >= samples:
            break
    return n, check


def write_mds(manifest, out):
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc
    from streaming import MDSWriter

    m, files = shard_files(manifest)
    row_len = m["row_len"]
    with MDSWriter(out=out, columns={"tokens": f"ndarray:uint32:{row_len}"}, size_limit="64mb") as w:
        for f in files:
            t = ipc.open_file(pa.memory_map(f)).read_all()
            for c in t.column("input_ids").chunks:
                for row in c.values.to_numpy().reshape(-1, row_len):
                    w.write({"tokens": row})


def run_streaming(mds, samples, batch, workers):
    import numpy as np
    import torch
    from streaming import StreamingDataset
    from torch.utils.data import DataLoader

    class Tokens(StreamingDataset):
        def __getitem__(self, i):
            row = torch.from_numpy(super().__getitem__(i)["tokens"].astype(np.int64))
            return row[:-1], row[1:]

    ds = Tokens(local=mds, shuffle=True, shuffle_seed=1, batch_size=batch)
    n, check = 0, 0
    for x, y in DataLoader(ds, batch_size=batch, num_workers=workers):
        n += x.shape[0]
        check += int(x[:, 0].sum()) + int(y[:, -1].sum())
        if n >= samples:
            break
    return n, check


def child(args):
    # Imports before the clock: the rate is of reading, not of Python start-up.
    import numpy, pyarrow.ipc, torch, torch.utils.data  # noqa: F401
    if args.tool == "sluice":
        import sluice  # noqa: F401
    if args.tool == "streaming":
        import streaming  # noqa: F401
    fn = {"sluice": run_sluice, "pyarrow": run_pyarrow, "streaming": run_streaming}[args.tool]
    src = args.mds if args.tool == "streaming" else args.manifest
    t0 = time.perf_counter()
    n, _ = fn(src, args.samples, args.batch, args.workers)
    secs = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if args.workers else 0
    status = open("/proc/self/status").read()
    anon = int(status.split("RssAnon:")[1].split()[0]) / 1024  # without mapped file pages
    print(json.dumps({"samples": n, "secs": secs, "rss_mb": own, "worker_rss_mb": kids, "anon_mb": anon}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--samples", type=int, default=64000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir", default="out/bench/loader")
    ap.add_argument("--json")
    ap.add_argument("--tool")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--mds")
    args = ap.parse_args()
    if args.tool:
        return child(args)
    os.makedirs(args.workdir, exist_ok=True)
    mds = os.path.join(args.workdir, "mds")
    if not os.path.exists(os.path.join(mds, "index.json")):
        t0 = time.perf_counter()
        write_mds(args.manifest, mds)
        print(f"wrote MDS in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    m, files = shard_files(args.manifest)
    gb = sum(os.path.getsize(f) for f in files) / 1e9
    runs = {}
    for rep in range(args.reps):
        for workers in (0, 2):
            for tool in ("sluice", "pyarrow", "streaming"):
                # Through common's shim: the peak is the child's own, not this process's.
                _, peak, stdout = run_peak(
                    [sys.executable, HERE, "--tool", tool, "--workers", str(workers), "--manifest",
                     args.manifest, "--mds", mds, "--samples", str(args.samples), "--batch", str(args.batch)])
                r = json.loads(stdout.strip().splitlines()[-1])
                r["rss_mb"] = max(r["rss_mb"], peak)
                if r["samples"] < args.samples:
                    sys.exit(f"{tool} read only {r['samples']} samples")
                runs.setdefault((tool, workers), []).append(r)
    rows, out = [], []
    for (tool, workers), rs in runs.items():
        secs = statistics.median(r["secs"] for r in rs)
        rows.append({"tool": tool, "workers": workers, "samples_per_s": args.samples / secs, "secs": secs,
                     "peak_rss_mb": max(r["rss_mb"] for r in rs),
                     "worker_rss_mb": max(r["worker_rss_mb"] for r in rs),
                     "anon_mb": max(r["anon_mb"] for r in rs)})
    print(f"loader: {args.samples} samples of {m['row_len']} tokens, batch {args.batch}, "
          f"shards {gb:.2f} GB, {args.reps} repeats (median)")
    print(f"{'tool':<10} {'workers':>7} {'samples/s':>10} {'main RSS MB':>12} {'of it anon':>11} {'worker RSS MB':>14} {'sluice x':>9}")
    for r in rows:
        base = next(b for b in rows if b["tool"] == "sluice" and b["workers"] == r["workers"])
        r["sluice_speedup"] = r["secs"] / base["secs"]
        print(f"{r['tool']:<10} {r['workers']:>7} {r['samples_per_s']:>10.0f} {r['peak_rss_mb']:>12.0f} "
              f"{r['anon_mb']:>11.0f} {r['worker_rss_mb']:>14.0f} {r['sluice_speedup']:>9.2f}")
        out.append({"bench": f"feed PyTorch: {args.samples} rows x {m['row_len']} tokens, batch {args.batch}, "
                             f"{r['workers']} workers ({gb:.1f} GB of shards)",
                    "tool": {"sluice": "sluice ShardDataset", "pyarrow": "pyarrow + DataLoader",
                             "streaming": "mosaicml streaming"}[r["tool"]],
                    "seconds": r["secs"], "peak_mb": r["peak_rss_mb"],
                    "note": f"{r['samples_per_s']:.0f} samples/s; {r['anon_mb']:.0f} MB not file-mapped at the end"
                            + (f"; largest worker {r['worker_rss_mb']:.0f} MB" if r["workers"] else "")})
    emit(args.json, out)


if __name__ == "__main__":
    main()

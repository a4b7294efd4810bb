#!/usr/bin/env python3
"""Object storage: the scale bench's full chain plus tokenize on >= 1 GB of real text, read
from and written to a real S3-compatible server on loopback (moto), beside the same run on
local disk, in one run.

Data: `big.jsonl` of benches/scale_bench.py (--gb GB composed from real paragraphs of the
fetchable corpora, 10-30 KB documents with planted duplicates), uploaded as one object.
Runs (each `sluice run` its own process; peak RSS is sluice's alone, moto's is not counted):
- local-to-local, --workers 2 (the baseline);
- s3-to-local, --workers 1 and 2: one big object read by byte ranges (the speed-up);
- s3-to-s3, --workers 2: staged in a scratch dir and uploaded as the run goes.
Checks: s3-to-s3 leaves in the bucket the files s3-to-local leaves on disk, byte for byte
(curated, rejected, shards, manifest, stats without timings); --workers 1 and 2 identical.
moto runs on the same 2 cores as sluice, so the s3 runs pay for the server too.

    python3 benches/s3_bench.py --sluice target/release/sluice-curate --workdir out/bench/s3 [--gb 1] [--json F]
"""
import argparse, glob, hashlib, json, os, random, shutil, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import SHIM, emit  # noqa: E402
from scale_bench import FULL, real_docs  # noqa: E402

CACHE = os.path.expanduser(os.environ.get("SLUICE_CACHE", "~/.cache/sluice"))
KEY, SECRET = "AKIASLUICEBENCH00001", "sluice-bench-secret-not-real"
BUCKET = "sluice-bench"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_moto():
    port = free_port()
    p = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return p, f"http://127.0.0.1:{port}"


def client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, region_name="us-east-1")


def env(endpoint, cache):
    e = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true", AWS_ACCESS_KEY_ID=KEY,
             AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1", SLUICE_CACHE=cache)
    return e


def digest(files):
    """sha256 over (name, bytes) of a run's outputs, stats.json without its timings."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        if name == "stats.json":
            s = json.loads(data)
            for st in s["stages"]:
                st.pop("seconds", None)
            data = json.dumps(s, sort_keys=True).encode()
        h.update(name.encode())
        h.update(data)
    return h.hexdigest()[:16]


def wanted(rel):
    return rel.split("/")[0] in ("curated", "rejected", "shards") or rel in ("manifest.json", "stats.json")


def local_files(out):
    files = {}
    for p in glob.glob(os.path.join(out, "**", "*"), recursive=True):
        rel = os.path.relpath(p, out)
        if os.path.isfile(p) and wanted(rel):
            files[rel] = open(p, "rb").read()
    return files


def bucket_files(s3, prefix):
    files = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            rel = o["Key"][len(prefix) + 1:]
            if wanted(rel):
                files[rel] = s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
    return files


def run_peak(cmd, env):
    """(wall seconds, peak RSS MB of the command alone, its object-storage line on stderr)."""
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", SHIM, *map(str, cmd)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    err, _, peak = p.stderr.rpartition("__PEAK_KB__ ")
    if p.returncode != 0:
        sys.exit(f"{cmd} failed:\n{err[-3000:]}")
    io = next((line for line in err.splitlines() if line.startswith("object storage:")), "")
    return wall, int(peak.strip()) / 1024, io


def run(sluice, workdir, name, inputs, out, workers, e, tokenizer):
    cfg = os.path.join(workdir, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(f'[[input]]\npaths = ["{inputs}"]\n[output]\ndir = "{out}"\n{FULL}'
                f'[tokenize]\ntokenizer = "{tokenizer}"\nseq_len = 1024\n')
    return run_peak([sluice, "run", cfg, "--workers", str(workers)], e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default="target/release/sluice-curate")
    ap.add_argument("--workdir", default="out/bench/s3")
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--tokenizer", default=os.path.join(CACHE, "pkgs/qwen3/package/models/tokenizer.json"))
    ap.add_argument("--json")
    args = ap.parse_args()
    w = os.path.abspath(args.workdir)
    os.makedirs(w, exist_ok=True)
    big = os.path.join(w, "big.jsonl")
    real_docs(big, args.gb, random.Random(1))
    mb = os.path.getsize(big) / 1e6
    moto, endpoint = start_moto()
    try:
        s3 = client(endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(big, BUCKET, "raw/big.jsonl")
        cache = os.path.join(w, "cache")
        shutil.rmtree(cache, ignore_errors=True)
        e = env(endpoint, cache)
        rows, digests = [], {}
        plan = [("local-to-local", big, os.path.join(w, "out-local"), 2),
                ("s3-to-local", f"s3://{BUCKET}/raw/big.jsonl", os.path.join(w, "out-s3-local-w1"), 1),
                ("s3-to-local", f"s3://{BUCKET}/raw/big.jsonl", os.path.join(w, "out-s3-local-w2"), 2),
                ("s3-to-s3", f"s3://{BUCKET}/raw/big.jsonl", f"s3://{BUCKET}/runs/full", 2)]
        for name, inputs, out, workers in plan:
            if not out.startswith("s3://"):
                shutil.rmtree(out, ignore_errors=True)
            wall, peak, io = run(args.sluice, w, f"{name}-w{workers}", inputs, out, workers, e, args.tokenizer)
            files = bucket_files(s3, "runs/full") if out.startswith("s3://") else local_files(out)
            digests[f"{name}-w{workers}"] = digest(files)
            row = {"name": name, "workers": workers, "seconds": round(wall, 1), "input_mb": round(mb),
                   "mb_s_per_core": round(mb / wall / workers, 2), "peak_mb": round(peak),
                   "files": len(files), "digest": digests[f"{name}-w{workers}"], "io": io}
            print(json.dumps(row), flush=True)
            rows.append(row)
        same_s3 = digests["s3-to-s3-w2"] == digests["s3-to-local-w2"]
        same_w = digests["s3-to-local-w1"] == digests["s3-to-local-w2"]
        by = {f"{r['name']}-w{r['workers']}": r for r in rows}
        print(f"s3-to-s3 / local-to-local time: {by['s3-to-s3-w2']['seconds'] / by['local-to-local-w2']['seconds']:.2f}x; "
              f"s3 read --workers 1 / 2: {by['s3-to-local-w1']['seconds'] / by['s3-to-local-w2']['seconds']:.2f}x; "
              f"s3 out identical to local out: {same_s3}; workers 1 and 2 identical: {same_w}", flush=True)
        emit(args.json, [{"bench": f"object storage {r['name']} w{r['workers']}", "tool": "sluice",
                          "seconds": r["seconds"], "peak_mb": r["peak_mb"],
                          "quality": f"identical={same_s3 and same_w}", "note": json.dumps(r)} for r in rows])
        if not (same_s3 and same_w):
            sys.exit("outputs differ")
    finally:
        moto.kill()


if __name__ == "__main__":
    main()

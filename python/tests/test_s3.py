"""ShardDataset over ``s3://…/manifest.json`` on a real S3-compatible server (``moto_server``
from PyPI's ``moto[server]``, which scripts/setup.sh installs, on loopback): the same
batches as from the local shards, in this process and in forked DataLoader workers."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
import torch
from torch.utils.data import DataLoader

import sluice

BUCKET = "py-shards"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    exe = os.environ.get("SLUICE_MOTO_SERVER") or shutil.which("moto_server")
    if exe is None:
        pytest.fail("no moto_server on PATH: run scripts/setup.sh, which installs moto[server]")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.2)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "sluice-test-key",
        "AWS_SECRET_ACCESS_KEY": "sluice-test-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "SLUICE_CACHE": str(tmp_path_factory.mktemp("cache")),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env["AWS_ENDPOINT_URL"]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    proc.wait()


def put(url: str, data: bytes = b"") -> None:
    # moto takes unsigned requests: plain HTTP PUTs create the bucket and the objects (as
    # octet-stream: urllib's default form type makes the server parse the body as a form).
    headers = {"Content-Type": "application/octet-stream"}
    req = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    urllib.request.urlopen(req, timeout=60).read()


@pytest.fixture(scope="module")
def s3_manifest(endpoint, packed) -> str:
    put(f"{endpoint}/{BUCKET}")
    for path in sorted(packed.rglob("*")):
        rel = path.relative_to(packed).as_posix()
        if path.is_file() and (rel == "manifest.json" or rel.startswith("shards/")):
            put(f"{endpoint}/{BUCKET}/run/{rel}", path.read_bytes())
    return f"s3://{BUCKET}/run/manifest.json"


def same(a, b) -> None:
    assert a["step"] == b["step"]
    for k in ("input_ids", "targets", "rows", "target_counts"):
        assert torch.equal(a[k], b[k]), k
    assert a["doc_starts"] == b["doc_starts"]


def test_batches_from_a_bucket_equal_local_batches(manifest, s3_manifest):
    local = sluice.ShardDataset(manifest, batch_size=8, seed=3, max_steps=12)
    remote = sluice.ShardDataset(s3_manifest, batch_size=8, seed=3, max_steps=12, cache_mb=1)
    expected = list(local)
    got = list(remote)
    assert len(got) == 12
    for a, b in zip(expected, got):
        same(a, b)
    stats = remote.shards().cache_stats
    assert stats["fetched"] >= 1 and stats["peak_bytes"] <= stats["limit_bytes"] == 1 << 20
    assert local.shards().cache_stats is None
    # The same manifest bytes: a state saved on one resumes on the other.
    assert remote.state_dict(next_step=5)["manifest_sha256"] == local.state_dict(next_step=5)["manifest_sha256"]
    # Forked DataLoader workers fetch through their own connections and caches.
    loader = DataLoader(remote, batch_size=None, num_workers=2)
    for a, b in zip(expected, loader):
        same(a, b)


def test_a_missing_object_is_a_clear_error(s3_manifest):
    with pytest.raises(sluice.SluiceError, match=f"s3://{BUCKET}/none/manifest.json: no such object"):
        sluice.ShardDataset(f"s3://{BUCKET}/none/manifest.json", batch_size=8)


def test_a_forked_child_reads_through_a_cache_of_its_own(s3_manifest, manifest):
    from sluice import _native

    remote = _native.Shards(s3_manifest, 0.05, 1)
    local = _native.Shards(str(manifest), 0.05)
    assert remote.row(0, 0) == local.row(0, 0)
    assert remote.cache_stats["fetched"] + remote.cache_stats["hits"] == 1
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            last = len(local.train_rows(1)) - 1
            ok = remote.row(1, last) == local.row(1, last) and remote.row(0, 0) == local.row(0, 0)
            # Its own slot and counters: two reads, not the parent's three.
            stats = remote.cache_stats
            code = 0 if ok and stats["fetched"] + stats["hits"] == 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert remote.row(1, 0) == local.row(1, 0)

"""`sluice export --to megatron` read back by megatron-core's own IndexedDataset: every
document of every domain equals the documents in sluice's shards (their packed stream cut at
doc_starts), and the files are byte-identical to what megatron-core's IndexedDatasetBuilder
writes for those documents. A killed export resumes; exporting again into the same
directory changes nothing; a uint16 request for a bigger vocabulary is refused."""

import json
import os
import subprocess

import numpy as np
import pyarrow.ipc as ipc
import pytest

from conftest import sluice, sluice_bin

indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")


def shard_docs(manifest_path):
    """Per domain: the documents of sluice's shards (tokens with EOS)."""
    m = json.loads(manifest_path.read_text())
    out = {}
    for domain, d in m["domains"].items():
        stream, starts = [], []
        for s in d["shards"]:
            t = ipc.open_file(str(manifest_path.parent / s["path"])).read_all()
            ids, ds, vl = t.column("input_ids"), t.column("doc_starts"), t.column("valid_len")
            for r in range(t.num_rows):
                starts += [len(stream) + x for x in ds[r].as_py()]
                stream += ids[r].as_py()[: vl[r].as_py()]
        bounds = starts[1:] + [len(stream)]
        out[domain] = [stream[a:b] for a, b in zip(starts, bounds)]
    return out


def test_megatron_reads_every_document(packed, tmp_path):
    out = tmp_path / "meg"
    p = sluice("export", packed, "--to", "megatron", "--out", out)
    assert "--data-path" in p.stdout
    want = shard_docs(packed / "manifest.json")
    for domain, docs in want.items():
        ds = indexed.IndexedDataset(str(out / domain))
        assert len(ds) == len(docs), domain
        for i, doc in enumerate(docs):
            assert ds[i].tolist() == doc, (domain, i)
        assert ds[0].dtype == np.uint16
        # megatron-core's own writer, on the same documents: the same bytes.
        ref = tmp_path / f"ref-{domain}"
        b = indexed.IndexedDatasetBuilder(str(ref) + ".bin", dtype=np.uint16)
        for doc in docs:
            b.add_document(np.array(doc, dtype=np.uint16), [len(doc)])
        b.finalize(str(ref) + ".idx")
        for ext in (".bin", ".idx"):
            assert (out / (domain + ext)).read_bytes() == (ref.parent / (ref.name + ext)).read_bytes(), (domain, ext)


def test_a_killed_export_resumes_and_a_rerun_changes_nothing(packed, tmp_path):
    out = tmp_path / "meg"
    sluice("export", packed, "--to", "megatron", "--out", out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    # As if killed after two domains: the others' files gone or half-written.
    progress = json.loads((out / "export.json").read_text())
    for d in list(progress["domains"])[2:]:
        del progress["domains"][d]
        (out / f"{d}.idx").unlink()
        (out / f"{d}.bin").write_bytes(b"half")
    (out / "export.json").write_text(json.dumps(progress))
    sluice("export", packed, "--to", "megatron", "--out", out, "--workers", "1")
    sluice("export", packed, "--to", "megatron", "--out", out)
    after = {f.name: f.read_bytes() for f in out.iterdir()}
    assert before.keys() == after.keys()
    for k in before:
        if k != "export.json":
            assert before[k] == after[k], k
    assert json.loads(before["export.json"]) == json.loads(after["export.json"])


def test_bad_requests_are_refused(packed, tmp_path):
    def err(*args):
        p = subprocess.run([sluice_bin(), *map(str, args)], capture_output=True, text=True)
        assert p.returncode != 0
        return p.stderr

    assert "no manifest" in err("export", tmp_path, "--to", "megatron", "--out", tmp_path / "x")
    e = err("export", packed, "--to", "litdata-nope", "--out", tmp_path / "y")
    assert "formats are megatron" in e
    m = json.loads((packed / "manifest.json").read_text())
    m["tokenizer"]["vocab_size"] = 151_000
    fake = tmp_path / "big"
    fake.mkdir()
    (fake / "manifest.json").write_text(json.dumps(m))
    assert "use int32" in err("export", fake, "--to", "megatron", "--out", tmp_path / "z", "--dtype", "uint16")


def shard_rows(manifest_path):
    """Per domain: the packed rows' real tokens, in order."""
    m = json.loads(manifest_path.read_text())
    out = {}
    for domain, d in m["domains"].items():
        rows = []
        for s in d["shards"]:
            t = ipc.open_file(str(manifest_path.parent / s["path"])).read_all()
            ids, vl = t.column("input_ids"), t.column("valid_len")
            rows += [ids[r].as_py()[: vl[r].as_py()] for r in range(t.num_rows)]
        out[domain] = rows
    return out


def test_litdata_reads_every_block(packed, tmp_path):
    litdata = pytest.importorskip("litdata")
    from litdata.streaming.item_loader import TokensLoader

    out = tmp_path / "lit"
    p = sluice("export", packed, "--to", "litdata", "--out", out, "--chunk-tokens", "3000")
    assert "CombinedStreamingDataset" in p.stdout
    m = json.loads((packed / "manifest.json").read_text())
    block = m["row_len"]
    for domain, docs in shard_docs(packed / "manifest.json").items():
        # TokensLoader reads each chunk's documents as one stream cut into blocks.
        index = json.loads((out / domain / "index.json").read_text())
        want, k = [], 0
        for c in index["chunks"]:
            stream = [t for d in docs[k:k + c["chunk_size"]] for t in d]
            k += c["chunk_size"]
            assert len(stream) == c["dim"]
            want += [stream[i:i + block] for i in range(0, len(stream) - block + 1, block)]
        assert k == len(docs)
        ds = litdata.StreamingDataset(str(out / domain), item_loader=TokensLoader(block_size=block), shuffle=False)
        got = [ds[i].tolist() for i in range(len(ds))]
        assert got == want, domain
    assert len(index["chunks"]) >= 1


def test_mds_reads_every_row_and_matches_mdswriter(packed, tmp_path):
    streaming = pytest.importorskip("streaming")

    out = tmp_path / "mds"
    p = sluice("export", packed, "--to", "mds", "--out", out, "--chunk-tokens", "3000")
    assert "Stream(local=" in p.stdout
    for domain, rows in shard_rows(packed / "manifest.json").items():
        ds = streaming.StreamingDataset(local=str(out / domain), shuffle=False, batch_size=1)
        assert [ds[i]["input_ids"].tolist() for i in range(len(ds))] == rows, domain
        ref = tmp_path / f"ref-{domain}"
        with streaming.MDSWriter(out=str(ref), columns={"input_ids": "ndarray:uint16"}, compression=None,
                                 size_limit=3000 * 2) as w:
            for r in rows:
                w.write({"input_ids": np.array(r, dtype=np.uint16)})
        shards = sorted(f.name for f in ref.iterdir() if f.suffix == ".mds")
        assert shards == sorted(f.name for f in (out / domain).iterdir() if f.suffix == ".mds")
        for s in shards:
            assert (ref / s).read_bytes() == (out / domain / s).read_bytes(), (domain, s)
        assert json.loads((ref / "index.json").read_text()) == json.loads((out / domain / "index.json").read_text())

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

"""Fixtures: real packed shards made by the `sluice` binary from the bundled corpus
(fortunes by category and Tang poems), once per session."""

import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUNDLED = REPO / "datasets" / "data" / "default"


def sluice_bin() -> str:
    path = os.environ.get("SLUICE_BIN") or str(REPO / "target" / "debug" / "sluice")
    if not os.path.exists(path):
        pytest.fail(f"no sluice binary at {path}: build it (cargo build) or set SLUICE_BIN")
    os.environ["SLUICE_BIN"] = path
    return path


def sluice(*args, cwd=None) -> subprocess.CompletedProcess:
    p = subprocess.run([sluice_bin(), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if p.returncode != 0:
        raise AssertionError(f"sluice {' '.join(map(str, args))} failed:\n{p.stderr}")
    return p


@pytest.fixture(scope="session")
def packed(tmp_path_factory) -> pathlib.Path:
    """A curated, packed run: returns its directory (manifest.json, shards/)."""
    d = tmp_path_factory.mktemp("packed")
    fortunes, poems = BUNDLED / "fortunes.jsonl.gz", BUNDLED / "tang-poems.parquet"
    sluice("tokenizer", "train", "--input", fortunes, "--input", poems,
           "--vocab-size", "1200", "--out", d / "tokenizer.json")
    (d / "pipeline.toml").write_text(f"""
[[input]]
paths = ["{fortunes}"]
[[input]]
paths = ["{poems}"]
[output]
dir = "out"
[[stages]]
type = "length"
min_chars = 20
[tokenize]
tokenizer = "tokenizer.json"
seq_len = 64
shard_tokens = 20000
""")
    sluice("run", d / "pipeline.toml")
    return d / "out"


@pytest.fixture(scope="session")
def manifest(packed) -> pathlib.Path:
    return packed / "manifest.json"


def read_jsonl(path):
    return [json.loads(l) for l in pathlib.Path(path).read_text().splitlines() if l.strip()]

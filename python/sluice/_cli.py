"""sluice.run and sluice.query: the `sluice` command line, called from Python.

They run the `sluice` binary (``$SLUICE_BIN``, else ``sluice`` on the PATH) so that the
curation engine is the one the command line uses, with its own threads and memory, and
raise :class:`SluiceError` with its message when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, Optional, Union

from ._errors import SluiceError


def _binary() -> str:
    path = os.environ.get("SLUICE_BIN") or shutil.which("sluice")
    if not path:
        raise SluiceError(
            "the sluice binary was not found: install it (cargo install --path . in the sluice "
            "repository) or set SLUICE_BIN to its path"
        )
    return path


def _call(*args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([_binary(), *args], capture_output=True, text=True)
    if p.returncode != 0:
        msg = p.stderr.strip() or p.stdout.strip() or f"exit status {p.returncode}"
        raise SluiceError(msg)
    return p


def run(config: Union[str, os.PathLike], workers: Optional[int] = None) -> Dict[str, Any]:
    """Runs (or resumes) the pipeline of `config` (a pipeline TOML) like ``sluice run``.
    Returns the run's ``stats.json``."""
    args = ["run", os.fspath(config)]
    if workers is not None:
        args += ["--workers", str(int(workers))]
    _call(*args)
    return _stats_of(config)


def _stats_of(config: Union[str, os.PathLike]) -> Dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib

    with open(config, "rb") as f:
        cfg = tomllib.load(f)
    out = cfg.get("output", {}).get("dir")
    if out is None:
        raise SluiceError(f"{os.fspath(config)}: no [output] dir")
    base = os.path.dirname(os.path.abspath(os.fspath(config)))
    path = os.path.join(base, out, "stats.json")
    with open(path) as f:
        return json.load(f)


def query(out: Union[str, os.PathLike], sql: str):
    """Runs SQL over a finished run's tables (``curated``, ``rejected``, ``quarantine``,
    ``stats``, ``counters``, ``shards``) like ``sluice query``; returns a pyarrow Table."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="sluice-query-") as tmp:
        dest = os.path.join(tmp, "result.parquet")
        _call("query", os.fspath(out), sql, "--format", "parquet", "--out", dest)
        return pq.read_table(dest)

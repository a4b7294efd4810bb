"""ShardDataset: sluice's packed token shards as a PyTorch IterableDataset.

The global batch of each step is drawn exactly as `sluice train` draws it (the same Rust
code, `feed::loader::plan_step`): a pure function of (seed, step, weights) and per-domain
shuffled passes. A rank takes the strided slice `batch[rank::world_size]` of it, as the
trainer's ranks do; DataLoader workers take whole steps (`step % num_workers == worker`),
so the DataLoader's round-robin over workers yields the steps in order, each once.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import torch
from torch.utils.data import IterableDataset, get_worker_info

from . import _native
from ._errors import SluiceError

STATE_FORMAT = "sluice.ShardDataset"
STATE_VERSION = 1


def _sha256(manifest: str) -> str:
    """SHA-256 of the manifest's bytes (a path or an ``s3://`` URL)."""
    return hashlib.sha256(_native.manifest_bytes(manifest)).hexdigest()


def _default_rank_world() -> "tuple[int, int]":
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ShardDataset(IterableDataset):
    """Batches of packed rows from a sluice `manifest.json`.

    Each item is one step's batch for this rank (use ``DataLoader(ds, batch_size=None)``):
    ``input_ids`` and ``targets`` (int64 ``[n, seq_len]``; targets are the inputs shifted by
    one, -100 past a row's real tokens), ``domains`` (int64 ``[n]``), ``rows`` (int64
    ``[n, 2]``: domain, row), ``doc_starts`` (list of lists), ``step`` (int).

    ``batch_size`` is the global batch (all ranks), as ``optim.batch_size`` in `sluice
    train`; it must split evenly over ``world_size``. ``weights`` (by domain name; default:
    token shares) give a static mixture; a :class:`DomainMixer` made on this dataset
    drives it instead. ``max_steps`` ends the iteration (default: never).

    ``manifest`` may be ``s3://bucket/run/manifest.json`` (credentials and endpoint from the
    standard AWS variables): shards are then fetched on first use into a local cache
    (``$SLUICE_CACHE``, else ``~/.cache/sluice``), checked against the manifest's SHA-256 and
    evicted whole, least recently used first, to stay within ``cache_mb`` MiB (no limit by
    default). DataLoader workers share that budget: each keeps ``cache_mb // num_workers``.
    """

    def __init__(
        self,
        manifest: Union[str, os.PathLike],
        *,
        batch_size: int,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        seed: int = 1,
        val_fraction: float = 0.05,
        weights: Optional[Dict[str, float]] = None,
        max_steps: Optional[int] = None,
        cache_mb: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.manifest = os.fspath(manifest)
        r, w = _default_rank_world()
        self.rank = r if rank is None else int(rank)
        self.world_size = w if world_size is None else int(world_size)
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise SluiceError(f"rank {self.rank} of world_size {self.world_size} is not a rank")
        if batch_size < 1 or batch_size % self.world_size:
            raise SluiceError(
                f"batch_size = {batch_size} must be a positive multiple of world_size ({self.world_size})"
            )
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        self.max_steps = max_steps
        if cache_mb is not None and int(cache_mb) < 1:
            raise SluiceError(f"cache_mb = {cache_mb} must be at least 1 (or None: no limit)")
        self.cache_mb = None if cache_mb is None else int(cache_mb)
        self._sha = _sha256(self.manifest)
        self._shards_handle = None
        self._shards_pid = None
        shards = self.shards()
        self.domains: List[str] = shards.domains
        self.seq_len: int = shards.seq_len
        self.vocab_size: int = shards.vocab_size
        self.static_weights: List[float] = shards.initial_weights(dict(weights or {}))
        self.mixer = None
        self._resume: Optional[tuple] = None
        self._consumed: Optional[int] = None

    # -- the shards, opened once per process --------------------------------------------

    def shards(self) -> "_native.Shards":
        """The memory-mapped shards (opened once per process)."""
        # A forked DataLoader worker opens its own (its own cache slot and cache_mb share).
        if self._shards_handle is None or self._shards_pid != os.getpid():
            self._check_manifest()
            cache_mb = self.cache_mb
            info = get_worker_info()
            if cache_mb is not None and info is not None:
                cache_mb = max(1, cache_mb // info.num_workers)
            self._shards_handle = _native.Shards(self.manifest, self.val_fraction, cache_mb)
            self._shards_pid = os.getpid()
        return self._shards_handle

    def _check_manifest(self) -> None:
        now = _sha256(self.manifest)
        if now != self._sha:
            raise SluiceError(
                f"{self.manifest}: the manifest changed since the dataset was made "
                f"(sha256 {self._sha[:12]} -> {now[:12]}); its shards may have been "
                "rewritten: make the dataset again"
            )

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_shards_handle"] = None  # memory maps are reopened in the worker
        return state

    # -- weights --------------------------------------------------------------------------

    def weights_at(self, step: int) -> List[float]:
        """The mixture step `step` draws from (the mixer's, waiting for its update if due)."""
        if self.mixer is not None:
            return self.mixer.weights_at(step)
        return self.static_weights

    # -- iteration ------------------------------------------------------------------------

    def _planner(self) -> "_native.Planner":
        p = _native.Planner(self.shards(), self.seed, self.batch_size)
        if self._resume is not None:
            p.set_state(*self._resume)
        return p

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        self._check_manifest()
        planner = self._planner()
        step = planner.next_step
        while self.max_steps is None or step < self.max_steps:
            w = self.weights_at(step)
            if step % workers != worker:
                planner.advance(step, w)
            else:
                rows = planner.plan(step, w)[self.rank :: self.world_size]
                if info is None:
                    self._consumed = step + 1
                yield self._batch(step, rows)
            step += 1

    def _batch(self, step: int, rows: Sequence["tuple[int, int]"]) -> Dict[str, Any]:
        n, t = len(rows), self.seq_len
        buf, starts, counts = self.shards().gather(list(rows))
        tokens = torch.frombuffer(buf, dtype=torch.int64).view(2, n, t)
        # Views of two storages (tokens, per-row numbers): what a worker process hands over.
        per_row = torch.tensor([(d, r, c) for (d, r), c in zip(rows, counts)], dtype=torch.int64).view(n, 3)
        return {
            "input_ids": tokens[0],
            "targets": tokens[1],
            "domains": per_row[:, 0],
            "rows": per_row[:, :2],
            "target_counts": per_row[:, 2],
            "doc_starts": starts,
            "step": step,
        }

    # -- resume ---------------------------------------------------------------------------

    def state_dict(self, next_step: Optional[int] = None) -> Dict[str, Any]:
        """Where to resume: the step after the last one trained, and the per-domain cursors.

        Without DataLoader workers the dataset knows how far it was consumed; with workers
        pass ``next_step`` (``batch["step"] + 1`` of the last batch trained)."""
        if next_step is None:
            if self._consumed is None:
                raise SluiceError(
                    "state_dict(): pass next_step (batch['step'] + 1 of the last batch trained); "
                    "with DataLoader workers this process does not see which batches were used"
                )
            next_step = self._consumed
        planner = self._planner()
        if next_step < planner.next_step:
            raise SluiceError(
                f"next_step {next_step} is before the step this dataset resumed at ({planner.next_step})"
            )
        for s in range(planner.next_step, next_step):
            planner.advance(s, self.weights_at(s))
        step, epoch, pos = planner.state()
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "manifest_sha256": self._sha,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "val_fraction": self.val_fraction,
            "next_step": step,
            "epoch": epoch,
            "pos": pos,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict`, also one saved under another world size or
        DataLoader worker count (elastic): a step's global batch depends only on the
        manifest, seed, batch size and validation split, and each rank takes its share of
        it. A state that differs in one of those cannot continue exactly and is refused."""
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise SluiceError(
                f"not a ShardDataset state of version {STATE_VERSION}: "
                f"format {state.get('format')!r}, version {state.get('version')!r}"
            )
        for key in ("manifest_sha256", "seed", "batch_size", "val_fraction"):
            mine = self._sha if key == "manifest_sha256" else getattr(self, key)
            if state[key] != mine:
                raise SluiceError(
                    f"the state was saved with {key} = {state[key]!r}, this dataset has {mine!r}: "
                    f"the global batches would differ, so it cannot resume exactly"
                )
        self._resume = (state["next_step"], list(state["epoch"]), list(state["pos"]))
        self._consumed = None


def positions_and_mask(doc_starts: Sequence[Sequence[int]], seq_len: int):
    """Position ids (restarting at each document) ``[n, seq_len]`` and the block-diagonal
    causal attention mask ``[n, 1, seq_len, seq_len]`` (True = may attend) of packed rows,
    as `sluice train` builds them."""
    n = len(doc_starts)
    pos, seg = _native.doc_positions([list(s) for s in doc_starts], seq_len)
    pos = torch.frombuffer(pos, dtype=torch.int64).view(n, seq_len)
    seg = torch.frombuffer(seg, dtype=torch.int64).view(n, seq_len)
    same = seg.unsqueeze(2) == seg.unsqueeze(1)
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    return pos, (same & causal).unsqueeze(1)


def domain_losses(token_loss: torch.Tensor, batch: Dict[str, Any], num_domains: int):
    """Per-domain (loss sum, token count) of a batch from the per-token loss ``[n, seq_len]``
    (``cross_entropy(..., reduction="none")``): what :meth:`DomainMixer.update` takes.
    Padding targets (-100) do not count. Under DDP, all-reduce both before the update."""
    real = (batch["targets"] != -100).to(token_loss.dtype)
    per_row = (token_loss * real).sum(1).double()
    tokens = real.sum(1).double()
    d = batch["domains"].to(per_row.device)
    sums = torch.zeros(num_domains, dtype=torch.float64, device=per_row.device)
    counts = torch.zeros_like(sums)
    return sums.index_add_(0, d, per_row), counts.index_add_(0, d, tokens)

"""DomainMixer: the trainer's domain mixture rules (static, exp3, doremi) driven from a
PyTorch loop with per-domain losses.

The rule itself is the Rust `feed::sampler::DomainSampler` that `sluice train` uses, with the
same window logic: losses add up over `update_every` steps, the update made after step s
applies from step s + 1 (DoReMi without a reference takes the first window as reference).
Its weights live in shared memory, so DataLoader workers (forked or spawned) draw with the
weights the training loop set; a worker about to plan a step that follows an update waits
until the loop has made it. Every update is a versioned line in the `weights.jsonl` format
of `sluice train`, which can be replayed here or by the trainer (`mixing.replay`).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from . import _native
from ._errors import SluiceError

STATE_FORMAT = "sluice.DomainMixer"
STATE_VERSION = 1


def _floats(x: Any, n: int, what: str) -> List[float]:
    if isinstance(x, torch.Tensor):
        x = x.detach().double().cpu().tolist()
    x = [float(v) for v in x]
    if len(x) != n:
        raise SluiceError(f"{what}: {n} values (one per domain) expected, got {len(x)}")
    return x


class DomainMixer:
    """Mixture weights for a :class:`ShardDataset` that follow the per-domain loss.

    Make it before iterating (before DataLoader workers start); it attaches to the dataset.
    Parameters and defaults are `sluice train`'s ``[mixing]`` section. Call
    :meth:`update` once per step, in order, with the step's per-domain (loss sum, token
    count) (see :func:`sluice.domain_losses`; all-reduce them first under DDP).
    """

    def __init__(
        self,
        dataset,
        rule: str = "static",
        *,
        update_every: int = 10,
        eta: float = 1.0,
        smoothing: float = 1e-3,
        min_weight: float = 0.02,
        weights: Optional[Dict[str, float]] = None,
        reference_loss: Optional[Dict[str, float]] = None,
        log: Union[str, os.PathLike, None] = None,
        capacity: int = 4096,
        wait_timeout: float = 600.0,
    ) -> None:
        if update_every < 1:
            raise SluiceError("update_every must be at least 1")
        shards = dataset.shards()
        self.names: List[str] = shards.domains
        reference_loss = dict(reference_loss or {})
        unknown = sorted(set(reference_loss) - set(self.names))
        if unknown:
            raise SluiceError(
                f"reference_loss: domain {unknown[0]!r} is not in the manifest (domains: {', '.join(self.names)})"
            )
        initial = shards.initial_weights(dict(weights or {}))
        reference = [float(reference_loss.get(n, math.nan)) for n in self.names]
        self._sampler = _native.Sampler(
            self.names, initial, rule, eta, smoothing, min_weight, reference
        )
        self.rule = rule
        self.update_every = int(update_every)
        self.wait_timeout = float(wait_timeout)
        self.log_path = None if log is None else os.fspath(log)
        d = len(self.names)
        # Shared with DataLoader workers: (first step, version, weights...) per update, a
        # ring of `capacity`, and [updates written, steps the loop has updated].
        self._table = torch.zeros(capacity, 2 + d, dtype=torch.float64).share_memory_()
        self._head = torch.zeros(2, dtype=torch.int64).share_memory_()
        self._window = [[0.0, 0.0] for _ in range(d)]
        self._replaying = False
        self.history: List[Dict[str, Any]] = []
        self._record({"version": 0, "step": 0, "weights": self._sampler.weights, "losses": []}, log_mode="w")
        dataset.mixer = self

    # -- the shared history ---------------------------------------------------------------

    def _record(self, u: Dict[str, Any], log_mode: Optional[str] = "a") -> None:
        """Adds an update to the shared ring and the history; writes it to the log with
        `log_mode` ("w" starts the file, None: the line is already there or not wanted)."""
        n, cap = int(self._head[0]), self._table.shape[0]
        row = self._table[n % cap]
        row[0], row[1] = float(u["step"]), float(u["version"])
        row[2:] = torch.tensor(u["weights"], dtype=torch.float64)
        self._head[0] = n + 1  # after the row: a reader never sees a half-written one
        self.history.append(u)
        if self.log_path is not None and log_mode is not None:
            with open(self.log_path, log_mode) as f:
                f.write(json.dumps(u) + "\n")

    def weights_at(self, step: int) -> List[float]:
        """The weights step `step` draws with. Waits (in a DataLoader worker) until the loop
        has updated the step before it when an update is due there."""
        if not self._replaying and step % self.update_every == 0 and self.rule != "static":
            deadline, pause = time.monotonic() + self.wait_timeout, 1e-4
            while int(self._head[1]) < step:
                if time.monotonic() > deadline:
                    raise SluiceError(
                        f"DomainMixer: step {step} waits for update({step - 1}, ...), which did not "
                        f"come within {self.wait_timeout:.0f} s; call mixer.update once per step, in order"
                    )
                time.sleep(pause)
                pause = min(pause * 2, 0.01)
        n, cap = int(self._head[0]), self._table.shape[0]
        for k in range(n - 1, max(-1, n - 1 - cap), -1):
            row = self._table[k % cap]
            if row[0].item() <= step:
                return row[2:].tolist()
        raise SluiceError(
            f"DomainMixer: the weights of step {step} are no longer held (capacity {cap}); raise capacity"
        )

    @property
    def weights(self) -> List[float]:
        """The current weights (those of the next step)."""
        return self.weights_at(int(self._head[1]))

    @property
    def version(self) -> int:
        return int(self.history[-1]["version"])

    # -- the loop's side ------------------------------------------------------------------

    def update(self, step: int, loss_sum: Sequence[float], tokens: Sequence[float]) -> Optional[Dict[str, Any]]:
        """Adds step `step`'s per-domain loss sums and token counts; every `update_every`
        steps the rule updates the weights for the steps from `step + 1` on. Returns the
        update (a `weights.jsonl` record) or None."""
        expected = int(self._head[1])
        if step != expected:
            raise SluiceError(f"DomainMixer.update: steps come in order; expected step {expected}, got {step}")
        d = len(self.names)
        loss_sum, tokens = _floats(loss_sum, d, "loss_sum"), _floats(tokens, d, "tokens")
        update = None
        if not self._replaying:
            for w, s, n in zip(self._window, loss_sum, tokens):
                w[0] += s
                w[1] += n
            if (step + 1) % self.update_every == 0:
                line = self._sampler.close_window([tuple(w) for w in self._window], step + 1)
                self._window = [[0.0, 0.0] for _ in range(d)]
                if line is not None:
                    update = json.loads(line)
                    self._record(update)
        self._head[1] = step + 1
        return update

    # -- save, restore, replay ------------------------------------------------------------

    def state_dict(self) -> Dict[str, Any]:
        """Everything to continue from here (a copy: later updates do not change it)."""
        return copy.deepcopy({
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "names": self.names,
            "update_every": self.update_every,
            "sampler": self._sampler.to_json(),
            "window": [list(w) for w in self._window],
            "steps_done": int(self._head[1]),
            "history": self.history,
        })

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continues from a :meth:`state_dict` (before the DataLoader starts its workers)."""
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise SluiceError(f"not a DomainMixer state of version {STATE_VERSION}")
        if state["names"] != self.names or state["update_every"] != self.update_every:
            raise SluiceError("the state was saved for other domains or another update_every")
        sampler = _native.Sampler.from_json(state["sampler"])
        self._head.zero_()
        self.history = []
        for u in state["history"]:
            self._record(u, log_mode=None)  # rewritten whole below
        self._sampler = sampler
        self._window = [list(w) for w in state["window"]]
        self._head[1] = int(state["steps_done"])
        if self.log_path is not None:
            with open(self.log_path, "w") as f:
                f.writelines(json.dumps(u) + "\n" for u in self.history)

    def replay(self, path: Union[str, os.PathLike]) -> None:
        """Replays a `weights.jsonl` (of `sluice train` or of a mixer's ``log``): each line's
        weights apply from its step on; :meth:`update` then only counts steps."""
        lines = [ln for ln in open(path).read().splitlines() if ln.strip()]
        self._head.zero_()
        self.history = []
        if not lines or json.loads(lines[0]).get("step") != 0:
            w = self._sampler.weights
            self._record({"version": 0, "step": 0, "weights": w, "losses": []}, log_mode=None)
        for k, ln in enumerate(lines):
            try:
                u = json.loads(ln)
                self._sampler.apply(ln)
            except (ValueError, SluiceError) as e:
                raise SluiceError(f"{os.fspath(path)}: line {k + 1}: {e}") from None
            self._record(u, log_mode=None)
        self._replaying = True

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_sampler"] = None  # workers only read the shared weights
        return state

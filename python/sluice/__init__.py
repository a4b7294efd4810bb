"""sluice for PyTorch: feed any training loop from sluice's packed token shards.

- :class:`ShardDataset`: an ``IterableDataset`` over a `manifest.json`, drawing the same
  batches as ``sluice train`` for the same seed and weights; rank- and worker-aware;
  ``state_dict()`` / ``load_state_dict()`` resume mid-epoch exactly.
- :class:`DomainMixer`: the trainer's static / exp3 / doremi mixture, updated from the loop
  with per-domain losses (:func:`domain_losses`), logged as ``weights.jsonl``.
- :func:`positions_and_mask`: position ids and the block-diagonal causal mask of packed rows.
- :func:`run`, :func:`query`: the ``sluice`` command line from Python.

Errors raise :class:`SluiceError` with sluice's message.
"""

from ._errors import SluiceError
from ._cli import query, run


def __getattr__(name):
    # The PyTorch pieces import torch only when used.
    if name in ("ShardDataset", "positions_and_mask", "domain_losses"):
        from . import _dataset

        return getattr(_dataset, name)
    if name == "DomainMixer":
        from ._mixer import DomainMixer

        return DomainMixer
    raise AttributeError(f"module 'sluice' has no attribute {name!r}")


__all__ = [
    "ShardDataset",
    "DomainMixer",
    "positions_and_mask",
    "domain_losses",
    "run",
    "query",
    "SluiceError",
]

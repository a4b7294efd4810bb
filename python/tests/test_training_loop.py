"""A 50-step GPT loop in plain PyTorch fed by ShardDataset and driven by DomainMixer, and the
command-line bindings (sluice.run, sluice.query)."""

import json

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import sluice
from conftest import BUNDLED, read_jsonl


class TinyGpt(nn.Module):
    def __init__(self, vocab, t, dim=64, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(t, dim)
        self.heads = heads
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids, pos, mask):
        x = self.tok(ids) + self.pos(pos)
        # True = may attend (sluice) -> True = masked out (PyTorch), one mask per head.
        m = (~mask).repeat_interleave(self.heads, dim=0).squeeze(1)
        return self.head(self.blocks(x, mask=m))


def test_fifty_step_gpt_loop_with_domain_mixer(tmp_path, manifest):
    torch.manual_seed(0)
    ds = sluice.ShardDataset(manifest, batch_size=16, seed=3, max_steps=50)
    log = tmp_path / "weights.jsonl"
    mixer = sluice.DomainMixer(ds, "exp3", update_every=5, eta=1.0, log=log)
    model = TinyGpt(ds.vocab_size, ds.seq_len)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses, rows = [], []
    for batch in DataLoader(ds, batch_size=None, num_workers=2):
        pos, mask = sluice.positions_and_mask(batch["doc_starts"], ds.seq_len)
        logits = model(batch["input_ids"], pos, mask)
        tok_loss = F.cross_entropy(
            logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=-100, reduction="none"
        ).view_as(batch["targets"])
        sums, counts = sluice.domain_losses(tok_loss, batch, len(ds.domains))
        loss = sums.sum() / counts.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        mixer.update(batch["step"], sums, counts)
        losses.append(loss.item())
        rows.append(batch["rows"].tolist())
    assert len(losses) == 50
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses
    # The log: versions 0..10, each applying from the step after a window of 5 (the last
    # one, made after step 49, from step 50, as the trainer logs it), summing to 1.
    lines = read_jsonl(log)
    assert [l["version"] for l in lines] == list(range(11))
    assert [l["step"] for l in lines] == [5 * k for k in range(11)]
    for l in lines:
        assert abs(sum(l["weights"]) - 1) < 1e-9 and min(l["weights"]) >= 0.02 - 1e-12
    assert max(abs(a - b) for a, b in zip(lines[0]["weights"], lines[-1]["weights"])) > 0.01
    # Replaying the log draws the same batches as the live run.
    again = sluice.ShardDataset(manifest, batch_size=16, seed=3, max_steps=50)
    sluice.DomainMixer(again, "exp3", update_every=5).replay(log)
    assert [b["rows"].tolist() for b in again] == rows


def test_run_and_query_bindings(tmp_path):
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text(f"""
[[input]]
paths = ["{BUNDLED / 'fortunes.jsonl.gz'}"]
[output]
dir = "out"
[[stages]]
type = "length"
min_chars = 40
""")
    stats = sluice.run(cfg, workers=2)
    table = sluice.query(tmp_path / "out", "SELECT count(*) AS n FROM curated")
    assert table.column("n").to_pylist()[0] == stats["output"]["docs"] > 0
    by_reason = sluice.query(tmp_path / "out", "SELECT reason, count(*) AS n FROM rejected GROUP BY reason")
    assert "length.too_short" in by_reason.column("reason").to_pylist()
    try:
        sluice.query(tmp_path / "out", "SELECT nosuch FROM curated")
    except sluice.SluiceError as e:
        assert "nosuch" in str(e)
    else:
        raise AssertionError("a bad query did not raise")

"""Plain PyTorch training from sluice's exports: a small GPT reads the litdata export through
litdata's StreamingDataset + TokensLoader and the MDS export through mosaicml-streaming's
StreamingDataset (a DataLoader each), 20 steps; the loss falls."""

import json

import pytest
import torch
import torch.nn as nn

from conftest import sluice


class TinyGPT(nn.Module):
    def __init__(self, vocab, dim=64, layers=2, ctx=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(ctx, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, vocab)

    def forward(self, x):
        t = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        h = self.tok(x) + self.pos(torch.arange(t))
        return self.head(self.blocks(h, mask=mask, is_causal=True))


def train(batches, vocab, steps=20):
    torch.manual_seed(0)
    model = TinyGPT(vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step, rows in zip(range(steps), batches):
        rows = rows.long()
        logits = model(rows[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), rows[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert len(losses) == steps
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.5, losses
    return losses


def forever(loader):
    while True:
        yield from loader


def test_a_gpt_trains_from_the_litdata_export(packed, tmp_path):
    litdata = pytest.importorskip("litdata")
    from litdata.streaming.item_loader import TokensLoader

    m = json.loads((packed / "manifest.json").read_text())
    sluice("export", packed, "--to", "litdata", "--out", tmp_path / "lit")
    ds = litdata.StreamingDataset(str(tmp_path / "lit" / "computers"),
                                  item_loader=TokensLoader(block_size=m["row_len"]), shuffle=True, seed=1)
    loader = litdata.StreamingDataLoader(ds, batch_size=8, num_workers=0)
    train(forever(loader), m["tokenizer"]["vocab_size"])


def test_a_gpt_trains_from_the_mds_export(packed, tmp_path):
    streaming = pytest.importorskip("streaming")

    m = json.loads((packed / "manifest.json").read_text())
    sluice("export", packed, "--to", "mds", "--out", tmp_path / "mds")
    streams = [streaming.Stream(local=str(tmp_path / "mds" / d), proportion=0.5) for d in ("computers", "poetry-zh")]
    ds = streaming.StreamingDataset(streams=streams, shuffle=True, shuffle_seed=1, batch_size=8)
    full = lambda s: len(s["input_ids"]) == m["row_len"]
    batches = (torch.stack([torch.from_numpy(s["input_ids"].astype("int64")) for s in b])
               for b in _chunks((s for s in forever(ds) if full(s)), 8))
    train(batches, m["tokenizer"]["vocab_size"])


def _chunks(it, n):
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []

"""ShardDataset against pyarrow, the Rust trainer, ranks x workers, and resume."""

import json
import math

import pyarrow.ipc as ipc
import pytest
import torch
from torch.utils.data import DataLoader

import sluice
from conftest import read_jsonl, sluice as run_sluice


def pyarrow_rows(packed, manifest_path):
    """{domain name: [(ids, doc_starts, valid_len), ...]} read with pyarrow alone."""
    m = json.loads(manifest_path.read_text())
    out = {}
    for name, dom in m["domains"].items():
        rows = []
        for shard in dom["shards"]:
            table = ipc.open_file(str(packed / shard["path"])).read_all()
            for ids, starts, valid in zip(
                table.column("input_ids").to_pylist(),
                table.column("doc_starts").to_pylist(),
                table.column("valid_len").to_pylist(),
            ):
                rows.append((ids, starts, valid))
        out[name] = rows
    return out


def test_rows_equal_pyarrow(packed, manifest):
    expected = pyarrow_rows(packed, manifest)
    ds = sluice.ShardDataset(manifest, batch_size=8, seed=3)
    shards = ds.shards()
    assert sorted(ds.domains) == sorted(expected)
    assert len(ds.domains) >= 3
    t = ds.seq_len
    for d, name in enumerate(ds.domains):
        rows = expected[name]
        for r, (ids, starts, valid) in enumerate(rows):
            assert shards.row(d, r) == (ids, starts, valid), (name, r)
    # A batch's tensors are the pyarrow rows, shifted into inputs and targets.
    batch = next(iter(ds))
    for k, (d, r) in enumerate(batch["rows"].tolist()):
        ids, starts, valid = expected[ds.domains[d]][r]
        real = min(valid - 1, t)
        assert batch["input_ids"][k].tolist() == ids[:t]
        assert batch["targets"][k].tolist() == ids[1 : real + 1] + [-100] * (t - real)
        assert batch["doc_starts"][k] == starts
        assert batch["target_counts"][k].item() == real
    assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape == (8, t)


def train_config(tmp, manifest, steps, rule="exp3", extra=""):
    cfg = tmp / "train.toml"
    cfg.write_text(f"""
[data]
manifest = "{manifest}"
val_fraction = 0.1
[model]
preset = "tiny"
[optim]
max_steps = {steps}
batch_size = 8
warmup_steps = 2
[eval]
every = 1000
rows_per_domain = 2
[mixing]
rule = "{rule}"
update_every = 3
eta = 2.0
{extra}
[run]
out_dir = "run"
seed = 7
threads = 1
log_every = 1
log_rows = true
""")
    return cfg


def test_same_batches_as_the_rust_trainer(tmp_path, manifest):
    steps = 15
    run_sluice("train", train_config(tmp_path, manifest, steps))
    log = [l for l in read_jsonl(tmp_path / "run" / "log.jsonl") if "rows" in l]
    assert [l["step"] for l in log] == list(range(steps))
    updates = read_jsonl(tmp_path / "run" / "weights.jsonl")
    assert len(updates) >= 4 and updates[-1]["weights"] != updates[0]["weights"]

    def python_rows(world, rank, replay=True):
        ds = sluice.ShardDataset(manifest, batch_size=8, seed=7, val_fraction=0.1,
                                 rank=rank, world_size=world, max_steps=steps)
        if replay:
            mixer = sluice.DomainMixer(ds, "exp3", update_every=3, eta=2.0)
            mixer.replay(tmp_path / "run" / "weights.jsonl")
        return [b["rows"].tolist() for b in ds]

    ours = python_rows(1, 0)
    assert ours == [l["rows"] for l in log]
    # The two ranks' strided slices interleave back into the global batch.
    r0, r1 = python_rows(2, 0), python_rows(2, 1)
    for s in range(steps):
        merged = [None] * 8
        merged[0::2], merged[1::2] = r0[s], r1[s]
        assert merged == log[s]["rows"]
    # Without the replayed weights the draws differ after the first update: the test sees them.
    assert python_rows(1, 0, replay=False) != ours


def collect(manifest, world, workers, steps, weights):
    out = {}
    for rank in range(world):
        ds = sluice.ShardDataset(manifest, batch_size=16, seed=11, rank=rank,
                                 world_size=world, weights=weights, max_steps=steps)
        loader = DataLoader(ds, batch_size=None, num_workers=workers)
        got = [(b["step"], b["rows"].tolist()) for b in loader]
        assert [s for s, _ in got] == list(range(steps)), "steps come in order, each once"
        out[rank] = [rows for _, rows in got]
    return out


def test_two_ranks_two_workers_cover_every_row_once_per_epoch(manifest):
    ds = sluice.ShardDataset(manifest, batch_size=16, seed=11)
    shards = ds.shards()
    train = [shards.train_rows(d) for d in range(len(ds.domains))]
    n = [len(t) for t in train]
    weights = {name: n[d] / sum(n) for d, name in enumerate(ds.domains)}
    steps = math.ceil(2.5 * sum(n) / 16)
    streams = collect(manifest, 2, 2, steps, weights)
    per_domain = [[] for _ in n]
    for s in range(steps):
        a, b = streams[0][s], streams[1][s]
        assert len(a) == len(b) == 8
        for pair in (x for k in range(8) for x in (a[k], b[k])):
            per_domain[pair[0]].append(pair[1])
    for d, draws in enumerate(per_domain):
        epochs = len(draws) // n[d]
        assert epochs >= 1, f"domain {d} did not finish an epoch in {steps} steps"
        for e in range(epochs):
            assert sorted(draws[e * n[d] : (e + 1) * n[d]]) == sorted(train[d]), (d, e)
    # The same rows as one process without workers.
    assert streams == collect(manifest, 2, 0, steps, weights)


def fake_losses(batch, d):
    # Deterministic per-domain "losses" that differ by domain, so exp3 moves the weights.
    counts = torch.zeros(d, dtype=torch.float64)
    counts.index_add_(0, batch["domains"], batch["target_counts"].double())
    sums = counts * torch.tensor([1.0 + 2.0 * k for k in range(d)], dtype=torch.float64)
    return sums, counts


def test_resume_from_state_dict_mid_epoch_gives_the_same_sequence(manifest):
    def make():
        ds = sluice.ShardDataset(manifest, batch_size=8, seed=5, max_steps=40)
        mixer = sluice.DomainMixer(ds, "exp3", update_every=4, eta=1.0)
        return ds, mixer

    ds, mixer = make()
    full, saved = [], None
    for b in ds:
        full.append(b["rows"].tolist())
        mixer.update(b["step"], *fake_losses(b, len(ds.domains)))
        if b["step"] == 17:
            saved = (ds.state_dict(), mixer.state_dict())
    assert mixer.version >= 5 and mixer.weights != mixer.history[0]["weights"]
    assert saved[0]["next_step"] == 18 and any(p > 0 for p in saved[0]["pos"])

    ds2, mixer2 = make()
    ds2.load_state_dict(saved[0])
    mixer2.load_state_dict(saved[1])
    rest = []
    for b in ds2:
        rest.append(b["rows"].tolist())
        mixer2.update(b["step"], *fake_losses(b, len(ds2.domains)))
    assert rest == full[18:]
    assert mixer2.history == mixer.history

    # With DataLoader workers the loop names the step; the resumed workers agree.
    ds3, mixer3 = make()
    ds3.load_state_dict(saved[0])
    mixer3.load_state_dict(saved[1])
    rest3 = []
    for b in DataLoader(ds3, batch_size=None, num_workers=2):
        rest3.append(b["rows"].tolist())
        mixer3.update(b["step"], *fake_losses(b, len(ds3.domains)))
    assert rest3 == full[18:]


def test_a_state_saved_on_two_ranks_resumes_on_one_and_on_three(manifest):
    """Elastic resume: stop two ranks after step 16, continue on one rank and on three
    (two DataLoader workers each): steps 17-39 have the global batches of an uninterrupted
    run."""
    def ranks(world, state=None, workers=0):
        out = []
        for rank in range(world):
            ds = sluice.ShardDataset(manifest, batch_size=12, seed=3, rank=rank, world_size=world, max_steps=40)
            if state is not None:
                ds.load_state_dict(state)
            loader = ds if workers == 0 else DataLoader(ds, batch_size=None, num_workers=workers)
            out.append({b["step"]: b["rows"].tolist() for b in loader})
        return out

    def merged(per_rank, step):
        world = len(per_rank)
        rows = [None] * 12
        for r, got in enumerate(per_rank):
            rows[r::world] = got[step]
        return rows

    whole = ranks(2)
    two = [sluice.ShardDataset(manifest, batch_size=12, seed=3, rank=r, world_size=2) for r in range(2)]
    states = [ds.state_dict(17) for ds in two]
    assert states[0] == states[1] and states[0]["world_size"] == 2
    for world, workers in ((1, 0), (3, 2)):
        got = ranks(world, states[0], workers)
        assert sorted(got[0]) == list(range(17, 40))
        for step in range(17, 40):
            assert merged(got, step) == merged(whole, step), (world, step)
    other = sluice.ShardDataset(manifest, batch_size=8, seed=3)
    with pytest.raises(sluice.SluiceError, match="batch_size = 12.*cannot resume exactly"):
        other.load_state_dict(states[0])


def test_positions_and_mask():
    pos, mask = sluice.positions_and_mask([[0, 3], [0]], 5)
    assert pos.tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 4]]
    m = mask[0, 0].int().tolist()
    assert m == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    assert mask[1, 0].equal(torch.ones(5, 5, dtype=torch.bool).tril())


def test_errors_are_clear(tmp_path, packed, manifest):
    with pytest.raises(sluice.SluiceError, match="nope.json"):
        sluice.ShardDataset(tmp_path / "nope.json", batch_size=8)
    bad = tmp_path / "bad.json"
    bad.write_text("{\"format_version\": 1}")
    with pytest.raises(sluice.SluiceError, match="not a sluice manifest"):
        sluice.ShardDataset(bad, batch_size=8)
    with pytest.raises(sluice.SluiceError, match="multiple of world_size"):
        sluice.ShardDataset(manifest, batch_size=7, world_size=2, rank=0)
    ds = sluice.ShardDataset(manifest, batch_size=8, seed=1)
    other = sluice.ShardDataset(manifest, batch_size=8, seed=2)
    with pytest.raises(sluice.SluiceError, match="seed"):
        other.load_state_dict(ds.state_dict(3))
    mixer = sluice.DomainMixer(ds, "exp3")
    with pytest.raises(sluice.SluiceError, match="expected step 0, got 1"):
        mixer.update(1, [1.0] * len(ds.domains), [1.0] * len(ds.domains))
    with pytest.raises(sluice.SluiceError, match="rule must be"):
        sluice.DomainMixer(ds, "exp4")
    with pytest.raises(sluice.SluiceError, match="not in the manifest"):
        sluice.ShardDataset(manifest, batch_size=8, weights={"nosuch": 1.0})
    # A manifest rewritten after the dataset was made is refused where it is reopened.
    copy = tmp_path / "m" / "manifest.json"
    copy.parent.mkdir()
    (copy.parent / "shards").symlink_to(packed / "shards")
    copy.write_text(manifest.read_text())
    ds = sluice.ShardDataset(copy, batch_size=8)
    copy.write_text(manifest.read_text().replace("\"remainder\"", " \"remainder\""))
    with pytest.raises(Exception, match="manifest changed"):
        next(iter(DataLoader(ds, batch_size=None, num_workers=1)))

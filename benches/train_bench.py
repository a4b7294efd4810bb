#!/usr/bin/env python3
"""Training throughput, side by side in one run:

- sluice's loader alone (sample plan + gather from the memory-mapped Arrow shards) vs a
  whole sluice training step: the loader must be >= 50x faster than the step;
- a sluice step (tch/libtorch) vs the same GPT in PyTorch (torch 2.13.0 from the same
  wheel as sluice's libtorch): pre-LN, RoPE, scaled_dot_product_attention, tanh-GELU,
  tied embeddings, AdamW (0.9, 0.95, wd 0.1 on matrices), clip 1.0, same batch, sequence
  length, vocabulary, threads; fed the same packed rows (read with pyarrow).

    benches/train_bench.py --manifest OUT/manifest.json [--preset small] [--steps 30]

Needs the torch venv made by benches/torch-setup.sh (CPU-only torch from the cached wheel).
"""
import argparse, json, math, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {"tiny": (2, 4, 64), "small": (4, 4, 128), "124m": (12, 12, 768)}


def torch_step_ms(manifest, preset, batch, steps, threads):
    import numpy as np
    import pyarrow.ipc as ipc
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    m = json.load(open(manifest))
    base = os.path.dirname(manifest)
    rows = []
    for d in m["domains"].values():
        for s in d["shards"]:
            t = ipc.open_file(os.path.join(base, s["path"])).read_all()
            ids = t.column("input_ids").combine_chunks().flatten().to_numpy()
            rows.append(ids.reshape(-1, m["row_len"]).astype(np.int64))
    rows = np.concatenate(rows)
    V, T = m["tokenizer"]["vocab_size"], m["seq_len"]
    L, H, D = PRESETS[preset]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.fc, self.fc_out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

        def forward(self, x, cos, sin):
            B, T_, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(B, T_, 3, H, D // H).permute(2, 0, 3, 1, 4)

            def rope(t):
                h = t.shape[-1] // 2
                a, b = t[..., :h], t[..., h:]
                return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)
            y = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T_, D))
            return x + self.fc_out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Parameter(torch.randn(V, D) * 0.02)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(D)
            hd = D // H
            inv = torch.exp(torch.arange(0, hd, 2).float() / hd * -math.log(10000.0))
            ang = torch.arange(T).float()[:, None] * inv[None]
            self.register_buffer("cos", ang.cos()[None, None])
            self.register_buffer("sin", ang.sin()[None, None])

        def forward(self, idx):
            x = F.embedding(idx, self.wte)
            for b in self.h:
                x = b(x, self.cos, self.sin)
            return self.ln_f(x) @ self.wte.T

    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=3e-3, betas=(0.9, 0.95))
    times = []
    for s in range(steps):
        idx = torch.from_numpy(rows[(np.arange(batch) + s * batch) % len(rows)])
        t0 = time.perf_counter()
        x, y = idx[:, :-1], idx[:, 1:]
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[3:]), float(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--torch-only", action="store_true")
    ap.add_argument("--json", help="append result rows for benches/summary.py")
    a = ap.parse_args()
    if a.torch_only:
        ms, loss = torch_step_ms(os.path.abspath(a.manifest), a.preset, a.batch, a.steps, a.threads)
        print(json.dumps({"step_ms": ms, "loss": loss}))
        return
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "train.toml")
    with open(cfg, "w") as f:
        f.write(f'[data]\nmanifest = "{os.path.abspath(a.manifest)}"\n[model]\npreset = "{a.preset}"\n'
                f'[optim]\nbatch_size = {a.batch}\nwarmup_steps = 5\n'
                f'[run]\nthreads = {a.threads}\ndevice = "cpu"\n')
    exe = os.path.join(ROOT, "target/release/examples/train_bench")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import emit, run_peak
    _, s_mb, out = run_peak([exe, cfg, str(a.steps)])
    s = json.loads(out)
    tpy = os.path.expanduser("~/.cache/sluice/torchpy/bin/python")
    _, t_mb, out = run_peak([tpy, __file__, "--torch-only", "--manifest", a.manifest,
                             "--preset", a.preset, "--batch", str(a.batch), "--steps",
                             str(a.steps), "--threads", str(a.threads)])
    t = json.loads(out)
    m = json.load(open(a.manifest))
    tok = a.batch * m["seq_len"]
    print(f"GPT {a.preset}, batch {a.batch} x {m['seq_len']} tokens, vocab "
          f"{m['tokenizer']['vocab_size']}, {a.threads} threads, CPU, median of {a.steps - 3} steps, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{'':<34}{'tokens/s':>12}{'ms/step':>10}")
    print(f"{'sluice loader alone':<34}{s['loader_tokens_per_s']:>12,.0f}{1000 * tok / s['loader_tokens_per_s']:>10.3f}")
    print(f"{'sluice train step (tch)':<34}{s['train_tokens_per_s']:>12,.0f}{s['step_ms']:>10.1f}")
    print(f"{'PyTorch 2.13 train step (Python)':<34}{1000 * tok / t['step_ms']:>12,.0f}{t['step_ms']:>10.1f}")
    print(f"loader / train step: {s['loader_over_train']:.0f}x;  "
          f"sluice step vs PyTorch: {t['step_ms'] / s['step_ms']:.2f}x faster")
    b = f"GPT {a.preset} train step, batch {a.batch} x {m['seq_len']}, {a.threads} threads"
    emit(a.json, [
        {"bench": b, "tool": "sluice", "seconds": s["step_ms"] / 1000, "peak_mb": s_mb,
         "quality": f"{s['train_tokens_per_s']:,.0f} tok/s; loader alone {s['loader_over_train']:,.0f}x faster than the step",
         "note": "tch; median step"},
        {"bench": b, "tool": "PyTorch 2.13", "seconds": t["step_ms"] / 1000, "peak_mb": t_mb,
         "quality": f"{1000 * tok / t['step_ms']:,.0f} tok/s", "note": "same model and optimiser in Python"},
    ])


if __name__ == "__main__":
    main()

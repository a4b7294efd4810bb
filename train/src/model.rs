//! A decoder-only GPT: token embedding tied to the output head, pre-LN blocks with rotary
//! position embeddings and causal attention through `scaled_dot_product_attention`, and
//! optional per-document positions and attention masks from the shards' `doc_starts`.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    pub vocab_size: i64,
    pub seq_len: i64,
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
}

impl GptConfig {
    /// Named sizes: `tiny` trains on a CPU in minutes; `124m` is GPT-2 small.
    pub fn preset(name: &str, vocab_size: i64, seq_len: i64) -> Option<Self> {
        let (n_layer, n_head, n_embd) = match name {
            "tiny" => (2, 4, 64),
            "small" => (4, 4, 128),
            "124m" => (12, 12, 768),
            _ => return None,
        };
        Some(GptConfig {
            vocab_size,
            seq_len,
            n_layer,
            n_head,
            n_embd,
        })
    }

    /// Parameters (the tied embedding counted once).
    pub fn params(&self) -> i64 {
        let d = self.n_embd;
        self.vocab_size * d + self.n_layer * (12 * d * d + 13 * d) + 2 * d
    }

    /// Training FLOPs per token (forward + backward): 6N + 12·L·T·d for attention.
    pub fn flops_per_token(&self) -> f64 {
        6.0 * self.params() as f64 + 12.0 * (self.n_layer * self.seq_len * self.n_embd) as f64
    }
}

struct Block {
    ln1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    ln2: nn::LayerNorm,
    fc: nn::Linear,
    fc_out: nn::Linear,
    n_head: i64,
}

fn linear(p: nn::Path, i: i64, o: i64, std: f64) -> nn::Linear {
    nn::linear(
        p,
        i,
        o,
        nn::LinearConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        },
    )
}

/// Rotates pairs (x1, x2) of the two halves of the head dimension by the position angle.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    Tensor::cat(&[&x1 * cos - &x2 * sin, &x1 * sin + &x2 * cos], 3)
}

impl Block {
    fn new(p: &nn::Path, c: &GptConfig) -> Self {
        let d = c.n_embd;
        let resid_std = 0.02 / (2.0 * c.n_layer as f64).sqrt();
        Block {
            ln1: nn::layer_norm(p / "ln1", vec![d], Default::default()),
            qkv: linear(p / "qkv", d, 3 * d, 0.02),
            proj: linear(p / "proj", d, d, resid_std),
            ln2: nn::layer_norm(p / "ln2", vec![d], Default::default()),
            fc: linear(p / "fc", d, 4 * d, 0.02),
            fc_out: linear(p / "fc_out", 4 * d, d, resid_std),
            n_head: c.n_head,
        }
    }

    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, mask: Option<&Tensor>) -> Tensor {
        let (b, t, d) = x.size3().unwrap();
        let hd = d / self.n_head;
        let qkv = self.qkv.forward(&self.ln1.forward(x));
        let qkv = qkv
            .view([b, t, 3, self.n_head, hd])
            .permute([2, 0, 3, 1, 4]);
        let q = rope(&qkv.get(0), cos, sin);
        let k = rope(&qkv.get(1), cos, sin);
        let v = qkv.get(2);
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            mask,
            0.0,
            mask.is_none(),
            None,
            false,
        );
        let y = y.transpose(1, 2).contiguous().view([b, t, d]);
        let x = x + self.proj.forward(&y);
        let h = self.fc.forward(&self.ln2.forward(&x)).gelu("tanh");
        &x + self.fc_out.forward(&h)
    }
}

pub struct Gpt {
    pub config: GptConfig,
    wte: Tensor,
    blocks: Vec<Block>,
    ln_f: nn::LayerNorm,
    inv_freq: Tensor,
}

impl Gpt {
    pub fn new(vs: &nn::Path, config: GptConfig) -> Self {
        let wte = vs.var(
            "wte",
            &[config.vocab_size, config.n_embd],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        );
        let blocks = (0..config.n_layer)
            .map(|i| Block::new(&(vs / "h" / i), &config))
            .collect();
        let hd = config.n_embd / config.n_head;
        let inv_freq = Tensor::arange_start_step(0, hd, 2, (Kind::Float, vs.device()))
            .to_kind(Kind::Float)
            .divide_scalar(hd as f64)
            .multiply_scalar(-(10000f64).ln())
            .exp();
        Gpt {
            config,
            wte,
            blocks,
            ln_f: nn::layer_norm(vs / "ln_f", vec![config.n_embd], Default::default()),
            inv_freq,
        }
    }

    /// Logits `[B, T, V]` for token ids `[B, T]`. `positions` (`[B, T]`, i64) restart at
    /// document starts and `mask` (`[B, 1, T, T]`, bool, true = may attend) keeps attention
    /// inside a document; without them positions are 0..T and attention is causal.
    pub fn forward(
        &self,
        idx: &Tensor,
        positions: Option<&Tensor>,
        mask: Option<&Tensor>,
    ) -> Tensor {
        let (b, t) = idx.size2().unwrap();
        let pos = match positions {
            Some(p) => p.to_kind(Kind::Float),
            None => Tensor::arange(t, (Kind::Float, idx.device()))
                .unsqueeze(0)
                .expand([b, t], false),
        };
        // [B, 1, T, hd/2]
        let ang = pos.unsqueeze(-1) * self.inv_freq.view([1, 1, -1]);
        let ang = ang.unsqueeze(1);
        let (cos, sin) = (ang.cos(), ang.sin());
        let mut x = self.wte.embedding_lookup(idx);
        for blk in &self.blocks {
            x = blk.forward(&x, &cos, &sin, mask);
        }
        let x = self.ln_f.forward(&x);
        x.matmul(&self.wte.tr())
    }
}

trait EmbeddingLookup {
    fn embedding_lookup(&self, idx: &Tensor) -> Tensor;
}

impl EmbeddingLookup for Tensor {
    fn embedding_lookup(&self, idx: &Tensor) -> Tensor {
        Tensor::embedding(self, idx, -1, false, false)
    }
}

/// Per-document positions and the attention mask for rows with document starts.
/// `starts[b]` lists the offsets where documents begin in row b (0 implied).
pub fn doc_positions_and_mask(starts: &[Vec<u32>], t: i64, device: Device) -> (Tensor, Tensor) {
    let b = starts.len() as i64;
    let (pos, seg) = feed::loader::doc_positions(starts, t as usize);
    let pos = Tensor::from_slice(&pos).view([b, t]).to_device(device);
    let seg = Tensor::from_slice(&seg).view([b, t]).to_device(device);
    let same = seg.unsqueeze(2).eq_tensor(&seg.unsqueeze(1));
    let causal = Tensor::ones([t, t], (Kind::Bool, device)).tril(0);
    let mask = same.logical_and(&causal).unsqueeze(1);
    (pos, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_shapes_and_causality() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let c = GptConfig::preset("tiny", 50, 16).unwrap();
        let m = Gpt::new(&vs.root(), c);
        let idx = Tensor::randint(50, [2, 16], (Kind::Int64, Device::Cpu));
        let y = m.forward(&idx, None, None);
        assert_eq!(y.size(), vec![2, 16, 50]);
        // Changing a later token leaves earlier logits unchanged.
        let idx2 = idx.copy();
        let _ = idx2.get(0).get(10).fill_(7);
        let y2 = m.forward(&idx2, None, None);
        let d = (y.narrow(1, 0, 10) - y2.narrow(1, 0, 10))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d < 1e-5, "{d}");
        let vars: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(vars, c.params());
    }

    #[test]
    fn document_mask_isolates_documents() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let c = GptConfig::preset("tiny", 50, 12).unwrap();
        let m = Gpt::new(&vs.root(), c);
        let idx = Tensor::randint(50, [1, 12], (Kind::Int64, Device::Cpu));
        let (pos, mask) = doc_positions_and_mask(&[vec![0, 5]], 12, Device::Cpu);
        assert_eq!(
            Vec::<i64>::try_from(pos.view([-1])).unwrap(),
            vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]
        );
        let y = m.forward(&idx, Some(&pos), Some(&mask));
        // The second document alone gives the same logits as inside the packed row.
        let alone = m.forward(&idx.narrow(1, 5, 7), None, None);
        let d = (y.narrow(1, 5, 7) - alone).abs().max().double_value(&[]);
        assert!(d < 1e-4, "{d}");
    }
}

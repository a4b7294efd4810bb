//! AdamW written out over tch tensors, so that its moments are ordinary tensors saved in
//! checkpoints (tch's built-in optimizer cannot export its state), with weight decay on
//! matrices only, a warmup + cosine schedule and global-norm gradient clipping.

use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

pub struct AdamW {
    pub config: AdamWConfig,
    pub params: Vec<(String, Tensor)>,
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
    /// Optimizer steps taken (for bias correction).
    pub t: i64,
}

impl AdamW {
    /// `params` sorted by name so that every rank and every resume sees the same order.
    pub fn new(mut params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        AdamW {
            config,
            params,
            m,
            v,
            t: 0,
        }
    }

    /// All gradients as one flat f32 vector (zeros where a parameter has none).
    pub fn flat_grads(&self) -> Vec<f32> {
        let parts: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p)| {
                let g = p.grad();
                if g.defined() {
                    g.to_kind(Kind::Float)
                        .flatten(0, -1)
                        .to_device(tch::Device::Cpu)
                } else {
                    Tensor::zeros([p.numel() as i64], (Kind::Float, tch::Device::Cpu))
                }
            })
            .collect();
        Vec::<f32>::try_from(Tensor::cat(&parts, 0)).expect("f32 gradients")
    }

    /// Writes a flat vector back into the gradients (after an all-reduce).
    pub fn set_flat_grads(&mut self, flat: &[f32]) {
        let mut off = 0usize;
        tch::no_grad(|| {
            for (_, p) in &self.params {
                let n = p.numel();
                let t = Tensor::from_slice(&flat[off..off + n])
                    .view(p.size().as_slice())
                    .to_device(p.device())
                    .to_kind(p.kind());
                let mut g = p.grad();
                if g.defined() {
                    g.copy_(&t);
                }
                off += n;
            }
        });
    }

    /// Global L2 norm of the gradients; scales them down to `clip` when above it.
    pub fn clip_grad_norm(&mut self, clip: f64) -> f64 {
        let sq: f64 = self
            .params
            .iter()
            .map(|(_, p)| {
                let g = p.grad();
                if g.defined() {
                    g.to_kind(Kind::Double)
                        .square()
                        .sum(Kind::Double)
                        .double_value(&[])
                } else {
                    0.0
                }
            })
            .sum();
        let norm = sq.sqrt();
        if clip > 0.0 && norm > clip {
            let s = clip / (norm + 1e-6);
            tch::no_grad(|| {
                for (_, p) in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(s);
                    }
                }
            });
        }
        norm
    }

    pub fn step(&mut self, lr: f64) {
        self.t += 1;
        let c = self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let m = &mut self.m[i];
                let v = &mut self.v[i];
                let _ = m.g_mul_scalar_(c.beta1);
                let _ = m.g_add_(&(&g * (1.0 - c.beta1)));
                let _ = v.g_mul_scalar_(c.beta2);
                let _ = v.g_add_(&(g.square() * (1.0 - c.beta2)));
                if p.dim() >= 2 && c.weight_decay > 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
                }
                let denom = (&*v / bc2).sqrt() + c.eps;
                let upd = (&*m / bc1) / denom * lr;
                let _ = p.g_sub_(&upd);
            }
        });
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }
}

/// Linear warmup to `lr`, then cosine decay to `lr·min_ratio` at `max_steps`.
pub fn lr_at(step: u64, lr: f64, warmup: u64, max_steps: u64, min_ratio: f64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let span = max_steps.saturating_sub(warmup).max(1) as f64;
    let p = ((step - warmup) as f64 / span).min(1.0);
    let min = lr * min_ratio;
    min + 0.5 * (lr - min) * (1.0 + (std::f64::consts::PI * p).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        assert!((lr_at(0, 1.0, 10, 100, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 1.0, 10, 100, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 1.0, 10, 100, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(100, 1.0, 10, 100, 0.1) - 0.1).abs() < 1e-12);
        assert!(lr_at(55, 1.0, 10, 100, 0.1) < 0.6);
    }

    #[test]
    fn adamw_minimises_a_quadratic_and_decays_only_matrices() {
        let w = Tensor::ones([2, 2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let b = Tensor::ones([2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let mut opt = AdamW::new(
            vec![
                ("w".into(), w.shallow_clone()),
                ("b".into(), b.shallow_clone()),
            ],
            AdamWConfig {
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                weight_decay: 0.1,
            },
        );
        for _ in 0..300 {
            opt.zero_grad();
            let loss = (&w - 3.0).square().sum(Kind::Float) + (&b - 3.0).square().sum(Kind::Float);
            loss.backward();
            opt.step(0.05);
        }
        let wv = w.mean(Kind::Float).double_value(&[]);
        let bv = b.mean(Kind::Float).double_value(&[]);
        assert!((bv - 3.0).abs() < 0.05, "{bv}");
        // Decay pulls the matrix slightly below the optimum; the bias is not decayed.
        assert!(wv < bv && wv > 2.5, "{wv} {bv}");
    }
}

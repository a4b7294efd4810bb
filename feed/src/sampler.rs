//! Domain mixture weights that follow the model's per-domain loss, and the deterministic
//! sample order that draws from them.
//!
//! Rules (applied every `update_every` steps to the window's mean loss per domain):
//! - `static`: the initial weights stay.
//! - `exp3` (Online Data Mixing): a multiplicative-weights bandit whose reward for domain d
//!   is its mean loss relative to the window's mean; log-weights grow by η·reward.
//! - `doremi`: log α_d += η · max(L_d − L_ref,d, 0) (excess loss over a reference).
//!
//! Every rule then takes the softmax, mixes in the uniform distribution with `smoothing`,
//! and lifts any weight below `min_weight` to it (renormalising the rest), so no domain
//! is ever starved. The next update starts from the log of these weights, as DoReMi's
//! starts from the previous smoothed α: a domain held at the floor carries no hidden
//! deficit that it must win back before its weight can rise. Each update bumps a version;
//! the history can be replayed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Static,
    Exp3,
    Doremi,
}

/// One change of the weights, as logged to `weights.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsUpdate {
    pub version: u64,
    /// The first step that samples with these weights.
    pub step: u64,
    pub weights: Vec<f64>,
    /// Mean training loss per domain over the window (NaN where a domain had no tokens;
    /// JSON writes it as null, which reads back as NaN).
    #[serde(deserialize_with = "nan_for_null")]
    pub losses: Vec<f64>,
}

fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainSampler {
    pub names: Vec<String>,
    pub rule: Rule,
    pub weights: Vec<f64>,
    pub eta: f64,
    pub smoothing: f64,
    pub min_weight: f64,
    /// DoReMi's reference loss per domain (NaN: not known yet; null in JSON).
    #[serde(deserialize_with = "nan_for_null")]
    pub reference: Vec<f64>,
    pub version: u64,
}

impl DomainSampler {
    pub fn new(
        names: Vec<String>,
        initial: Vec<f64>,
        rule: Rule,
        eta: f64,
        smoothing: f64,
        min_weight: f64,
        reference: Vec<f64>,
    ) -> Self {
        let log_initial: Vec<f64> = initial.iter().map(|w| w.max(1e-12).ln()).collect();
        let mut s = DomainSampler {
            weights: vec![],
            names,
            rule,
            eta,
            smoothing,
            min_weight,
            reference,
            version: 0,
        };
        s.weights = s.finish(softmax(&log_initial));
        s
    }

    fn finish(&self, mut w: Vec<f64>) -> Vec<f64> {
        let k = w.len() as f64;
        for x in w.iter_mut() {
            *x = (1.0 - self.smoothing) * *x + self.smoothing / k;
        }
        floor_weights(&mut w, self.min_weight);
        w
    }

    /// Takes the window's per-domain (loss sum, token count) and updates the weights;
    /// `next_step` is the first step that will use them.
    pub fn update(&mut self, window: &[(f64, f64)], next_step: u64) -> Option<WeightsUpdate> {
        let losses: Vec<f64> = window
            .iter()
            .map(|&(s, n)| if n > 0.0 { s / n } else { f64::NAN })
            .collect();
        let seen: Vec<f64> = losses.iter().copied().filter(|l| l.is_finite()).collect();
        if seen.is_empty() {
            return None;
        }
        // The update moves the log of the weights drawn with (see the header).
        let mut log_w: Vec<f64> = self.weights.iter().map(|w| w.max(1e-300).ln()).collect();
        match self.rule {
            Rule::Static => return None,
            Rule::Exp3 => {
                let mean = seen.iter().sum::<f64>() / seen.len() as f64;
                for (d, l) in losses.iter().enumerate() {
                    if l.is_finite() {
                        // Every domain drawn in the window reports its own mean loss, so
                        // this is the full-information form of the bandit update (Hedge):
                        // no 1/p importance weight, which would over-correct here.
                        log_w[d] += self.eta * l / mean.max(1e-9);
                    }
                }
            }
            Rule::Doremi => {
                for (d, l) in losses.iter().enumerate() {
                    if l.is_finite() {
                        let r = self.reference.get(d).copied().unwrap_or(0.0);
                        log_w[d] += self.eta * (l - r).max(0.0);
                    }
                }
            }
        }
        self.weights = self.finish(softmax(&log_w));
        self.version += 1;
        Some(WeightsUpdate {
            version: self.version,
            step: next_step,
            weights: self.weights.clone(),
            losses,
        })
    }

    /// Ends a window of `update_every` steps: the first window of a DoReMi run without a
    /// configured reference loss becomes the reference (no update); otherwise the rule's
    /// update. The trainer and the Python `DomainMixer` both end their windows here.
    pub fn close_window(&mut self, window: &[(f64, f64)], next_step: u64) -> Option<WeightsUpdate> {
        if self.rule == Rule::Doremi && self.reference.iter().any(|r| r.is_nan()) {
            for (r, &(s, n)) in self.reference.iter_mut().zip(window) {
                if r.is_nan() {
                    *r = if n > 0.0 { s / n } else { 0.0 };
                }
            }
            return None;
        }
        self.update(window, next_step)
    }

    /// Sets the weights from a logged update (replay).
    pub fn apply(&mut self, u: &WeightsUpdate) {
        self.weights = u.weights.clone();
        self.version = u.version;
    }
}

/// Refuses a configured key (a weight, a reference loss) that names no domain of the shards.
pub fn check_domain_keys<'a>(
    names: &[String],
    mut keys: impl Iterator<Item = &'a String>,
) -> Result<(), String> {
    match keys.find(|k| !names.contains(k)) {
        Some(k) => Err(format!(
            "domain '{k}' is not in the manifest (domains: {})",
            names.join(", ")
        )),
        None => Ok(()),
    }
}

/// The starting mixture: the configured weight of each domain, else its share of the
/// tokens, normalised to sum to 1. Names a configured domain the shards lack.
pub fn initial_weights(
    domains: &[(String, u64)],
    configured: &BTreeMap<String, f64>,
) -> Result<Vec<f64>, String> {
    let names: Vec<String> = domains.iter().map(|d| d.0.clone()).collect();
    check_domain_keys(&names, configured.keys())?;
    let total: f64 = domains.iter().map(|d| d.1 as f64).sum();
    let w: Vec<f64> = domains
        .iter()
        .map(|(name, tokens)| {
            configured
                .get(name)
                .copied()
                .unwrap_or(*tokens as f64 / total.max(1.0))
        })
        .collect();
    let s: f64 = w.iter().sum();
    if !(s > 0.0 && s.is_finite()) || w.iter().any(|x| x.is_nan() || *x < 0.0) {
        return Err(format!(
            "the weights must be >= 0 with a positive sum, got {w:?}"
        ));
    }
    Ok(w.iter().map(|x| x / s).collect())
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Raises weights below `min` to `min` and scales the others down to sum to 1.
pub fn floor_weights(w: &mut [f64], min: f64) {
    let k = w.len();
    if k == 0 || min * k as f64 >= 1.0 {
        w.iter_mut().for_each(|x| *x = 1.0 / k.max(1) as f64);
        return;
    }
    let mut fixed = vec![false; k];
    loop {
        let fixed_mass = fixed.iter().filter(|f| **f).count() as f64 * min;
        let free: f64 = (0..k).filter(|&i| !fixed[i]).map(|i| w[i]).sum();
        let scale = (1.0 - fixed_mass) / free.max(1e-300);
        let mut changed = false;
        for i in 0..k {
            if !fixed[i] && w[i] * scale < min {
                fixed[i] = true;
                changed = true;
            }
        }
        if !changed {
            for i in 0..k {
                w[i] = if fixed[i] { min } else { w[i] * scale };
            }
            return;
        }
    }
}

/// SplitMix64: the counter-based generator behind every random choice of the loader, so the
/// sample order is a pure function of (seed, step) and needs no saved state.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform f64 in [0, 1) from (seed, a, b).
pub fn unit(seed: u64, a: u64, b: u64) -> f64 {
    (mix(mix(seed ^ mix(a)) ^ b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Where each domain is in its shuffled pass over its training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: Vec<u64>,
    pub pos: Vec<u64>,
}

impl Cursor {
    pub fn new(domains: usize) -> Self {
        Cursor {
            epoch: vec![0; domains],
            pos: vec![0; domains],
        }
    }
}

/// The permutation of `n` rows of `domain` in `epoch`: a seeded Fisher-Yates shuffle.
pub fn epoch_order(seed: u64, domain: usize, epoch: u64, n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let s = mix(seed ^ mix(domain as u64 + 1) ^ mix(epoch.wrapping_mul(0x1000_0001)));
    for i in (1..n).rev() {
        let j = (mix(s ^ i as u64) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Picks a domain for draw `i` of `step` by the weights.
pub fn pick_domain(weights: &[f64], seed: u64, step: u64, i: u64) -> usize {
    let u = unit(seed, step, i);
    let mut acc = 0.0;
    for (d, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return d;
        }
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sampler(rule: Rule) -> DomainSampler {
        DomainSampler::new(
            vec!["a".into(), "b".into(), "c".into()],
            vec![1.0 / 3.0; 3],
            rule,
            0.5,
            1e-3,
            0.05,
            vec![2.0, 2.0, 2.0],
        )
    }

    #[test]
    fn weight_moves_to_the_domain_whose_loss_stays_high() {
        for rule in [Rule::Exp3, Rule::Doremi] {
            let mut s = sampler(rule);
            for k in 0..30 {
                // Domain b's loss stays at 5; a and c fall from 4 towards 2.
                let l = 4.0 - 2.0 * (k as f64 / 30.0);
                let u = s.update(
                    &[(l * 100.0, 100.0), (500.0, 100.0), (l * 100.0, 100.0)],
                    k + 1,
                );
                assert!(u.is_some());
                assert!(
                    s.weights.iter().all(|w| *w >= 0.05 - 1e-12),
                    "{rule:?} {:?}",
                    s.weights
                );
                assert!((s.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
            assert!(s.weights[1] > 0.6, "{rule:?}: {:?}", s.weights);
            assert!(s.weights[0] >= 0.05 - 1e-12 && s.weights[2] >= 0.05 - 1e-12);
        }
        let mut st = sampler(Rule::Static);
        assert!(st
            .update(&[(1.0, 1.0), (9.0, 1.0), (1.0, 1.0)], 1)
            .is_none());
        assert!((st.weights[1] - 1.0 / 3.0).abs() < 1e-6);
    }

    /// A small domain lifted to the floor at the start (or pushed there later) rises as soon
    /// as its loss is the highest: the update moves the weights it sampled with, not a
    /// hidden log-weight far below the floor (which took tens of updates to win back).
    #[test]
    fn a_floored_domain_rises_at_the_first_update_that_favours_it() {
        let names = vec!["big".to_string(), "small".into(), "tiny".into()];
        for rule in [Rule::Exp3, Rule::Doremi] {
            let mut s = DomainSampler::new(
                names.clone(),
                vec![0.98, 0.01, 0.01],
                rule,
                1.0,
                0.0,
                0.1,
                vec![5.0; 3],
            );
            assert_eq!(s.weights[1], 0.1, "{:?}", s.weights);
            s.update(&[(500.0, 100.0), (600.0, 100.0), (500.0, 100.0)], 10);
            assert!(s.weights[1] > 0.11, "{rule:?}: {:?}", s.weights);
            assert!(
                s.weights[2] >= 0.1 - 1e-12 && s.weights[0] < 0.8,
                "{rule:?}: {:?}",
                s.weights
            );
        }
    }

    /// A window where a domain drew no rows logs its loss as null; the line replays.
    #[test]
    fn a_logged_update_with_an_unseen_domain_reads_back() {
        let mut s = sampler(Rule::Exp3);
        let u = s
            .update(&[(300.0, 100.0), (0.0, 0.0), (200.0, 100.0)], 10)
            .unwrap();
        let line = serde_json::to_string(&u).unwrap();
        assert!(line.contains("null"), "{line}");
        let back: WeightsUpdate = serde_json::from_str(&line).unwrap();
        assert_eq!(back.weights, u.weights);
        assert!(back.losses[1].is_nan() && back.losses[0] == 3.0);
        // A sampler whose reference is not known yet (a checkpoint before DoReMi's first
        // window; any exp3 run) reads back too.
        let s = sampler(Rule::Doremi);
        let mut s2 = s.clone();
        s2.reference = vec![f64::NAN; 3];
        let back: DomainSampler =
            serde_json::from_str(&serde_json::to_string(&s2).unwrap()).unwrap();
        assert!(back.reference.iter().all(|r| r.is_nan()));
        assert_eq!(back.weights, s.weights);
    }

    #[test]
    fn replay_reproduces_the_weights() {
        let mut s = sampler(Rule::Doremi);
        let u = s
            .update(&[(300.0, 100.0), (500.0, 100.0), (200.0, 100.0)], 10)
            .unwrap();
        let mut r = sampler(Rule::Doremi);
        r.apply(&u);
        assert_eq!(r.weights, s.weights);
        assert_eq!(r.version, 1);
    }

    proptest! {
        #[test]
        fn floor_keeps_every_weight_at_least_min(mut w in proptest::collection::vec(0.0f64..1.0, 1..12), min in 0.0f64..0.08) {
            let s: f64 = w.iter().sum::<f64>() + 1e-9;
            w.iter_mut().for_each(|x| *x /= s);
            floor_weights(&mut w, min);
            prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-6);
            prop_assert!(w.iter().all(|x| *x >= min - 1e-9));
        }

        #[test]
        fn epoch_order_is_a_permutation(n in 0usize..300, e in 0u64..5) {
            let mut v = epoch_order(7, 1, e, n);
            v.sort_unstable();
            prop_assert_eq!(v, (0..n as u32).collect::<Vec<_>>());
        }
    }
}

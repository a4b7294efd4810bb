//! `TRAIN.toml`: what to train on, the model size, the optimiser, evaluation, mixing and
//! checkpoints. Unknown keys are errors; values are checked before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pipeline::config::{join_problems, Sections};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::sampler::Rule;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    #[serde(default)]
    pub mixing: MixingConfig,
    #[serde(default)]
    pub run: RunConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The tokenize step's manifest.json (relative to this file), or `s3://…/manifest.json`.
    pub manifest: String,
    #[serde(default = "d_val")]
    pub val_fraction: f64,
    /// Restart positions and mask attention at document boundaries inside a row.
    #[serde(default)]
    pub doc_mask: bool,
    /// Validate on every row of another manifest (same tokenizer and seq_len), packed from
    /// a held-out document set, e.g. to compare models trained on different data on one
    /// validation set. `val_fraction` then only holds rows out of `manifest` (0 uses all).
    pub eval_manifest: Option<String>,
    /// Local cache for shards read from object storage, in MiB per process: whole shards are
    /// evicted (least recently used first) to stay within it. No limit when unset.
    pub cache_mb: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default = "d_preset")]
    pub preset: String,
    pub n_layer: Option<i64>,
    pub n_head: Option<i64>,
    pub n_embd: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_min_lr")]
    pub min_lr_ratio: f64,
    #[serde(default = "d_warmup")]
    pub warmup_steps: u64,
    #[serde(default = "d_steps")]
    pub max_steps: u64,
    /// Sequences per optimiser step, over all ranks and accumulation steps.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_one")]
    pub grad_accum: usize,
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    #[serde(default = "d_b1")]
    pub beta1: f64,
    #[serde(default = "d_b2")]
    pub beta2: f64,
    #[serde(default = "d_clip")]
    pub grad_clip: f64,
    #[serde(default)]
    pub label_smoothing: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate every this many steps (0: only at the end).
    #[serde(default = "d_eval_every")]
    pub every: u64,
    /// Validation rows per domain per evaluation (at most).
    #[serde(default = "d_eval_rows")]
    pub rows_per_domain: usize,
    /// Stop after this many evaluations without improvement (0: never).
    #[serde(default)]
    pub patience: u32,
    #[serde(default)]
    pub min_delta: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MixingConfig {
    #[serde(default = "d_rule")]
    pub rule: Rule,
    #[serde(default = "d_update")]
    pub update_every: u64,
    #[serde(default = "d_eta")]
    pub eta: f64,
    #[serde(default = "d_smooth")]
    pub smoothing: f64,
    #[serde(default = "d_minw")]
    pub min_weight: f64,
    /// Initial weights by domain (default: proportional to tokens).
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    /// DoReMi reference loss by domain (default: the first window's loss).
    #[serde(default)]
    pub reference_loss: BTreeMap<String, f64>,
    /// A weights.jsonl of an earlier run to replay instead of computing updates.
    pub replay: Option<PathBuf>,
    /// Within a domain, the share of draws taken from a pool of recently seen high-loss
    /// rows instead of the next row of the shuffled pass (0: off).
    #[serde(default)]
    pub hard_fraction: f64,
    /// Rows kept per domain in that pool (the highest losses win).
    #[serde(default = "d_pool")]
    pub hard_pool: usize,
    /// Pool rows are drawn with probability ∝ exp(loss / temperature).
    #[serde(default = "d_one_f64")]
    pub hard_temperature: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default = "d_out")]
    pub out_dir: PathBuf,
    #[serde(default = "d_one_u64")]
    pub seed: u64,
    /// "cpu", "cuda" or "auto".
    #[serde(default = "d_device")]
    pub device: String,
    /// libtorch intra-op threads (0: libtorch's default).
    #[serde(default)]
    pub threads: i32,
    #[serde(default = "d_ckpt")]
    pub checkpoint_every: u64,
    /// Peak FLOP/s of the device in TFLOP/s, for MFU in the log (0: not reported).
    #[serde(default)]
    pub peak_tflops: f64,
    #[serde(default = "d_log_every")]
    pub log_every: u64,
    /// Each log.jsonl line also lists the step's global batch as `rows`: [domain index,
    /// row] pairs (which rows a loss spike came from; what a PyTorch `ShardDataset` must
    /// draw for the same seed and weights).
    #[serde(default)]
    pub log_rows: bool,
}

fn d_val() -> f64 {
    0.05
}
fn d_preset() -> String {
    "tiny".into()
}
fn d_lr() -> f64 {
    3e-3
}
fn d_min_lr() -> f64 {
    0.1
}
fn d_warmup() -> u64 {
    20
}
fn d_steps() -> u64 {
    200
}
fn d_batch() -> usize {
    16
}
fn d_one() -> usize {
    1
}
fn d_one_u64() -> u64 {
    1
}
fn d_wd() -> f64 {
    0.1
}
fn d_b1() -> f64 {
    0.9
}
fn d_b2() -> f64 {
    0.95
}
fn d_clip() -> f64 {
    1.0
}
fn d_eval_every() -> u64 {
    50
}
fn d_eval_rows() -> usize {
    16
}
fn d_rule() -> Rule {
    Rule::Static
}
fn d_update() -> u64 {
    10
}
/// η = 1 moves the weights (exp3: a domain 10% above the mean loss gains ~10% weight per
/// update; doremi: DoReMi's own η); 0.1 left exp3 almost static (docs/EXPERIMENTS.md).
fn d_eta() -> f64 {
    1.0
}
fn d_smooth() -> f64 {
    1e-3
}
fn d_minw() -> f64 {
    0.02
}
fn d_pool() -> usize {
    64
}
fn d_one_f64() -> f64 {
    1.0
}
fn d_out() -> PathBuf {
    "train-out".into()
}
fn d_device() -> String {
    "auto".into()
}
fn d_ckpt() -> u64 {
    100
}
fn d_log_every() -> u64 {
    1
}

impl Default for ModelConfig {
    fn default() -> Self {
        toml::from_str("").unwrap()
    }
}
impl Default for OptimConfig {
    fn default() -> Self {
        toml::from_str("").unwrap()
    }
}
impl Default for EvalConfig {
    fn default() -> Self {
        toml::from_str("").unwrap()
    }
}
impl Default for MixingConfig {
    fn default() -> Self {
        toml::from_str("").unwrap()
    }
}
impl Default for RunConfig {
    fn default() -> Self {
        toml::from_str("").unwrap()
    }
}

impl TrainConfig {
    /// Reads and checks a config; relative paths are made relative to its directory.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let mut c = Self::from_toml_str(&text).map_err(|message| TrainError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let fix_location = |p: &mut String| {
            if !store::Location::is_url(p) && Path::new(p).is_relative() {
                *p = base.join(&*p).to_string_lossy().into_owned();
            }
        };
        fix_location(&mut c.data.manifest);
        if let Some(e) = &mut c.data.eval_manifest {
            fix_location(e);
        }
        fix(&mut c.run.out_dir);
        if let Some(r) = &mut c.mixing.replay {
            fix(r);
        }
        Ok(c)
    }

    /// Parses each section on its own and checks the values: every problem at once.
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        let mut t = Sections::parse(text, &["data", "model", "optim", "eval", "mixing", "run"])?;
        let data = t.require("data", "no [data] table; add one with `manifest = \"...\"`");
        // Every section is read even without [data], so that its mistakes are reported too.
        let (model, optim, eval) = (
            t.take_or_default("model"),
            t.take_or_default("optim"),
            t.take_or_default("eval"),
        );
        let (mixing, run) = (t.take_or_default("mixing"), t.take_or_default("run"));
        let c = data.map(|data| TrainConfig {
            data,
            model,
            optim,
            eval,
            mixing,
            run,
        });
        let mut errors = t.finish();
        if let Some(c) = &c {
            errors.extend(c.problems());
        }
        match join_problems(errors) {
            Some(message) => Err(message),
            None => Ok(c.expect("no problems, so [data] was read")),
        }
    }

    /// The values serde cannot check (sizes, ranges, the preset), each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut err = |m: String| errors.push(m);
        let o = &self.optim;
        if o.batch_size == 0 || o.grad_accum == 0 {
            err("optim.batch_size and optim.grad_accum must be at least 1".into());
        }
        if !o.batch_size.is_multiple_of(o.grad_accum) {
            err(format!(
                "optim.batch_size = {} must be a multiple of optim.grad_accum = {}",
                o.batch_size, o.grad_accum
            ));
        }
        if o.lr.is_nan() || o.lr <= 0.0 || !(0.0..=1.0).contains(&o.min_lr_ratio) {
            err("optim.lr must be > 0 and optim.min_lr_ratio within 0..=1".into());
        }
        if o.max_steps == 0 {
            err("optim.max_steps must be at least 1".into());
        }
        if !(0.0..1.0).contains(&o.label_smoothing) {
            err("optim.label_smoothing must be within 0..1".into());
        }
        if !(0.0..0.5).contains(&self.data.val_fraction) {
            err("data.val_fraction must be within 0..0.5".into());
        }
        let m = &self.mixing;
        if m.update_every == 0 {
            err("mixing.update_every must be at least 1".into());
        }
        if !(0.0..1.0).contains(&m.min_weight) || !(0.0..1.0).contains(&m.smoothing) {
            err("mixing.min_weight and mixing.smoothing must be within 0..1".into());
        }
        if !(0.0..=1.0).contains(&m.hard_fraction) || m.hard_pool == 0 || m.hard_temperature <= 0.0
        {
            err("mixing.hard_fraction must be within 0..=1, hard_pool >= 1 and hard_temperature > 0".into());
        }
        if !matches!(self.run.device.as_str(), "cpu" | "cuda" | "auto") {
            err(format!(
                "run.device = {:?}: use \"cpu\", \"cuda\" or \"auto\"",
                self.run.device
            ));
        }
        // The preset is the base that n_layer / n_head / n_embd override: a misspelt one is
        // an error even when all three are given, never a silent fallback.
        let m = &self.model;
        let Some(base) = crate::model::GptConfig::preset(&m.preset, 1, 1) else {
            err(format!(
                "model.preset = {:?}: use tiny, small or 124m",
                m.preset
            ));
            return errors;
        };
        let (head, embd) = (
            m.n_head.unwrap_or(base.n_head),
            m.n_embd.unwrap_or(base.n_embd),
        );
        if m.n_layer == Some(0)
            || head <= 0
            || embd <= 0
            || embd % head != 0
            || (embd / head) % 2 != 0
        {
            err(format!(
                "model: n_embd = {embd} must be a multiple of n_head = {head} with an even head \
                 size, and n_layer at least 1"
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "[data]\nmanifest = \"m.json\"\n[run]\nout_dir = \"o\"\n";

    fn check(extra: &str) -> Result<(), String> {
        TrainConfig::from_toml_str(&format!("{OK}{extra}")).map(|_| ())
    }

    /// A misspelt preset is refused even when every size is given; sizes that cannot make
    /// attention heads are refused before the trainer starts.
    #[test]
    fn model_sizes_are_checked_with_the_config() {
        assert!(check("[model]\npreset = \"small\"\n").is_ok());
        let e = check("[model]\npreset = \"smal\"\nn_layer = 2\nn_head = 2\nn_embd = 64\n")
            .unwrap_err();
        assert!(e.contains("model.preset = \"smal\""), "{e}");
        let e = check("[model]\nn_head = 3\n").unwrap_err();
        assert!(
            e.contains("n_embd = 64 must be a multiple of n_head = 3"),
            "{e}"
        );
    }

    /// Mistakes in several sections come back together, each naming its key.
    #[test]
    fn every_mistake_is_reported_at_once() {
        let e = check("[optim]\nlr = 0.0\nmax_steps = 0\nlr_typo = 1\n[mixing]\nrule = \"static\"\nbogus = 1\n[extra]\n")
            .unwrap_err();
        for want in [
            "3 problems",
            "optim: unknown field `lr_typo`",
            "mixing: unknown field `bogus`",
            "unknown section 'extra'",
        ] {
            assert!(e.contains(want), "{want} missing from: {e}");
        }
        let e =
            check("[optim]\nlr = 0.0\nmax_steps = 0\n[model]\npreset = \"smal\"\n").unwrap_err();
        for want in [
            "3 problems",
            "optim.lr must be > 0",
            "optim.max_steps must be at least 1",
            "model.preset = \"smal\"",
        ] {
            assert!(e.contains(want), "{want} missing from: {e}");
        }
        // Without [data] the other sections are still read, not called unknown.
        let e = TrainConfig::from_toml_str("[optim]\nlr_typo = 1\n").unwrap_err();
        for want in ["no [data] table", "optim: unknown field `lr_typo`"] {
            assert!(e.contains(want), "{want} missing from: {e}");
        }
        assert!(!e.contains("unknown section"), "{e}");
    }

    /// With the default step size an exp3 run's mixture follows a steady 10% loss spread
    /// within 20 updates; at the old default (0.1) it moved 0.13 in L1 and changed nothing
    /// measurable (docs/EXPERIMENTS.md, 2026-11-29).
    #[test]
    fn the_default_eta_moves_the_exp3_mixture() {
        let cfg = TrainConfig::from_toml_str(&format!("{OK}[mixing]\nrule = \"exp3\"\n")).unwrap();
        let m = &cfg.mixing;
        let names = vec!["a".to_string(), "b".into(), "c".into()];
        let mut s = crate::sampler::DomainSampler::new(
            names,
            vec![1.0 / 3.0; 3],
            m.rule,
            m.eta,
            m.smoothing,
            m.min_weight,
            vec![f64::NAN; 3],
        );
        for k in 0..20 {
            s.update(
                &[(5.5, 1.0), (5.0, 1.0), (4.5, 1.0)],
                (k + 1) * m.update_every,
            );
        }
        let travel: f64 = s.weights.iter().map(|w| (w - 1.0 / 3.0).abs()).sum();
        assert!(travel > 0.5, "weights {:?} travelled {travel}", s.weights);
    }
}

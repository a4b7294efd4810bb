//! The training loop: sample → forward/backward per micro-batch → all-reduce gradients and
//! per-domain losses → clip → AdamW → mixture update → eval / early stopping → checkpoint.
//!
//! The loss of a step is the mean over every real target token of the global batch, so the
//! gradients summed over ranks equal a single process's on the same batch.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::comm::Comm;
use crate::config::TrainConfig;
use crate::data::ShardSet;
use crate::error::TrainError;
use crate::loader::{
    gather, plan_step, rank_micro_batches, update_pools, Hard, HostBatch, Plan, Prefetcher,
};
use crate::model::{doc_positions_and_mask, Gpt, GptConfig};
use crate::optim::{lr_at, AdamW, AdamWConfig};
use crate::sampler::{check_domain_keys, initial_weights, Cursor, DomainSampler, WeightsUpdate};

/// What a checkpoint holds besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// The next step to run.
    pub step: u64,
    pub opt_t: i64,
    pub sampler: DomainSampler,
    pub cursor: Cursor,
    pub window: Vec<(f64, f64)>,
    pub best_val: Option<f64>,
    pub bad_evals: u32,
    pub stopped_early: bool,
    /// Per domain, recently seen (loss, row) of the high-loss pool (`mixing.hard_fraction`).
    #[serde(default)]
    pub pools: Vec<Vec<(f32, u32)>>,
    pub config: TrainConfig,
    pub model: GptConfig,
}

/// What a finished (or stopped) run reports.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub steps: u64,
    pub resumed_from: Option<u64>,
    pub stopped_early: bool,
    pub final_train_loss: f64,
    pub val_loss: BTreeMap<String, f64>,
    /// Validation rows per domain behind `val_loss`.
    pub val_rows: BTreeMap<String, usize>,
    pub weights: BTreeMap<String, f64>,
    pub out_dir: PathBuf,
    pub tokens_per_s: f64,
}

/// Summed loss and target tokens per slot (a domain, or a sample of the global batch).
#[derive(Debug, Clone, PartialEq)]
pub struct LossTally {
    pub loss: Vec<f64>,
    pub tokens: Vec<f64>,
}

impl LossTally {
    pub fn new(n: usize) -> Self {
        LossTally {
            loss: vec![0.0; n],
            tokens: vec![0.0; n],
        }
    }

    pub fn add(&mut self, i: usize, loss: f64, tokens: f64) {
        self.loss[i] += loss;
        self.tokens[i] += tokens;
    }

    /// Mean loss per token of slot `i`; NaN when it had no tokens.
    pub fn mean_of(&self, i: usize) -> f64 {
        match self.tokens[i] > 0.0 {
            true => self.loss[i] / self.tokens[i],
            false => f64::NAN,
        }
    }

    /// Mean loss per token over every slot.
    pub fn mean(&self) -> f64 {
        self.loss.iter().sum::<f64>() / self.tokens.iter().sum::<f64>().max(1.0)
    }

    /// Sums every slot over the ranks.
    fn all_reduce(&mut self, comm: &dyn Comm) {
        comm.allreduce_f64(&mut self.loss);
        comm.allreduce_f64(&mut self.tokens);
    }

    /// Adds each slot into a (loss, tokens) window (the mixture's, kept in checkpoints).
    fn add_to(&self, window: &mut [(f64, f64)]) {
        for (w, (l, t)) in window.iter_mut().zip(self.loss.iter().zip(&self.tokens)) {
            w.0 += l;
            w.1 += t;
        }
    }
}

/// What a step's `log.jsonl` line reports besides the per-domain losses.
struct StepLine {
    step: u64,
    loss: f64,
    lr: f64,
    grad_norm: f64,
    /// Tokens of the global batch, and the step's wall time.
    toks: f64,
    secs: f64,
    /// The global batch, when `run.log_rows` asks for it.
    rows: Option<Vec<(usize, u32)>>,
}

/// What `run` carries from step to step for its summary.
struct RunProgress {
    last_loss: f64,
    val: BTreeMap<String, f64>,
    tokens: f64,
    started: Instant,
}

pub struct Trainer {
    pub cfg: TrainConfig,
    pub set: Arc<ShardSet>,
    /// Where validation rows come from: `set`, or `data.eval_manifest`.
    pub eval_set: Arc<ShardSet>,
    comm: Box<dyn Comm>,
    device: Device,
    vs: nn::VarStore,
    model: Gpt,
    opt: AdamW,
    pub state: TrainState,
    orders: Vec<(u64, Vec<u32>)>,
    replay: Vec<WeightsUpdate>,
    log: Option<JsonLog>,
    weights_log: Option<JsonLog>,
    resumed_from: Option<u64>,
}

fn ckpt_dir(out: &Path, name: &str) -> PathBuf {
    out.join(format!("ckpt-{name}"))
}

/// An append-only JSON-lines file of rank 0's (`log.jsonl`, `weights.jsonl`).
struct JsonLog {
    file: File,
    path: PathBuf,
}

/// Appends `v` to `log`, if this rank keeps one.
fn write_json_line(log: &mut Option<JsonLog>, v: &serde_json::Value) -> Result<(), TrainError> {
    if let Some(l) = log {
        writeln!(l.file, "{v}").map_err(|e| TrainError::io(&l.path, e))?;
    }
    Ok(())
}

/// Keeps the lines of a JSONL log whose `step` is below `step` (a resumed run rewrites
/// what came after its checkpoint).
fn truncate_log(path: &Path, step: u64) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s < step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(path, kept).map_err(|e| TrainError::io(path, e))
}

impl Trainer {
    pub fn new(cfg: TrainConfig, comm: Box<dyn Comm>) -> Result<Self, TrainError> {
        if cfg.run.threads > 0 {
            tch::set_num_threads(cfg.run.threads);
        }
        let device = match cfg.run.device.as_str() {
            "cpu" => Device::Cpu,
            "cuda" => {
                if !tch::Cuda::is_available() {
                    return Err(TrainError::Setup(
                        "run.device = \"cuda\" but libtorch sees no CUDA device".into(),
                    ));
                }
                Device::Cuda(comm.rank() % tch::Cuda::device_count() as usize)
            }
            _ => Device::cuda_if_available(),
        };
        let cache_mb = cfg.data.cache_mb;
        let set = Arc::new(ShardSet::open(
            &cfg.data.manifest,
            cfg.data.val_fraction,
            cache_mb,
        )?);
        let eval_set = match &cfg.data.eval_manifest {
            None => set.clone(),
            Some(p) => {
                let e = Arc::new(ShardSet::open_eval(p, cache_mb)?);
                if e.manifest.tokenizer.xxh3_128 != set.manifest.tokenizer.xxh3_128
                    || e.row_len != set.row_len
                {
                    return Err(TrainError::data(
                        p,
                        "data.eval_manifest was packed with another tokenizer or seq_len than data.manifest",
                    ));
                }
                e
            }
        };
        let world = comm.size();
        if !cfg
            .optim
            .batch_size
            .is_multiple_of(world * cfg.optim.grad_accum)
        {
            return Err(TrainError::Setup(format!(
                "optim.batch_size = {} must be a multiple of ranks ({world}) x grad_accum ({})",
                cfg.optim.batch_size, cfg.optim.grad_accum
            )));
        }
        let mc = &cfg.model;
        // The config's validation checked the preset and the head sizes.
        let mut model_cfg =
            GptConfig::preset(&mc.preset, set.vocab_size() as i64, set.seq_len() as i64)
                .ok_or_else(|| {
                    TrainError::Internal(format!("preset {:?} passed validation", mc.preset))
                })?;
        if let Some(v) = mc.n_layer {
            model_cfg.n_layer = v;
        }
        if let Some(v) = mc.n_head {
            model_cfg.n_head = v;
        }
        if let Some(v) = mc.n_embd {
            model_cfg.n_embd = v;
        }
        tch::manual_seed(cfg.run.seed as i64);
        let vs = nn::VarStore::new(device);
        let model = Gpt::new(&vs.root(), model_cfg);
        let params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        let opt = AdamW::new(
            params,
            AdamWConfig {
                beta1: cfg.optim.beta1,
                beta2: cfg.optim.beta2,
                eps: 1e-8,
                weight_decay: cfg.optim.weight_decay,
            },
        );
        let names: Vec<String> = set.domains.iter().map(|d| d.name.clone()).collect();
        let tokens: Vec<(String, u64)> = (set.domains.iter())
            .map(|d| (d.name.clone(), d.tokens))
            .collect();
        let initial = initial_weights(&tokens, &cfg.mixing.weights)
            .map_err(|e| TrainError::Setup(format!("mixing: {e}")))?;
        check_domain_keys(&names, cfg.mixing.reference_loss.keys())
            .map_err(|e| TrainError::Setup(format!("mixing: {e}")))?;
        let reference = names
            .iter()
            .map(|n| {
                cfg.mixing
                    .reference_loss
                    .get(n)
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect();
        let sampler = DomainSampler::new(
            names.clone(),
            initial,
            cfg.mixing.rule,
            cfg.mixing.eta,
            cfg.mixing.smoothing,
            cfg.mixing.min_weight,
            reference,
        );
        let replay = match &cfg.mixing.replay {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| TrainError::io(p, e))?
                .lines()
                .map(|l| {
                    serde_json::from_str::<WeightsUpdate>(l)
                        .map_err(|e| TrainError::data(p, format!("not a weights update: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![],
        };
        let d = names.len();
        let state = TrainState {
            step: 0,
            opt_t: 0,
            sampler,
            cursor: Cursor::new(d),
            window: vec![(0.0, 0.0); d],
            best_val: None,
            bad_evals: 0,
            stopped_early: false,
            pools: vec![vec![]; d],
            config: cfg.clone(),
            model: model_cfg,
        };
        let mut t = Trainer {
            orders: vec![(u64::MAX, vec![]); d],
            cfg,
            set,
            eval_set,
            comm,
            device,
            vs,
            model,
            opt,
            state,
            replay,
            log: None,
            weights_log: None,
            resumed_from: None,
        };
        t.resume_or_start()?;
        Ok(t)
    }

    fn out(&self) -> &Path {
        &self.cfg.run.out_dir
    }

    fn resume_or_start(&mut self) -> Result<(), TrainError> {
        let out = self.out().to_path_buf();
        std::fs::create_dir_all(&out).map_err(|e| TrainError::io(&out, e))?;
        let latest = ckpt_dir(&out, "latest");
        let old = ckpt_dir(&out, "latest.old");
        let found = if latest.join("state.json").exists() {
            Some(latest)
        } else if old.join("state.json").exists() {
            Some(old)
        } else {
            None
        };
        if let Some(dir) = &found {
            self.load_checkpoint(dir)?;
            self.resumed_from = Some(self.state.step);
        }
        // Before any other collective: ranks that found different checkpoints would
        // otherwise wait on different operations.
        self.check_ranks_agree()?;
        if found.is_none() {
            // Every rank starts from rank 0's initial parameters.
            self.broadcast_params();
        }
        if self.comm.rank() == 0 {
            let step = self.state.step;
            // log.jsonl lines carry the step that was run (below the checkpoint's `step`);
            // weights.jsonl lines the first step they apply to: the update made at the end of
            // step - 1 (step `step`) is in the checkpoint's sampler, so its line stays.
            for (name, keep_below) in [("log.jsonl", step), ("weights.jsonl", step + 1)] {
                let p = out.join(name);
                if step == 0 {
                    let _ = std::fs::remove_file(&p);
                } else {
                    truncate_log(&p, keep_below)?;
                }
            }
            let open =
                |path: PathBuf| match OpenOptions::new().create(true).append(true).open(&path) {
                    Ok(file) => Ok(JsonLog { file, path }),
                    Err(e) => Err(TrainError::io(&path, e)),
                };
            self.log = Some(open(out.join("log.jsonl"))?);
            self.weights_log = Some(open(out.join("weights.jsonl"))?);
            if step == 0 {
                let w = serde_json::to_value(WeightsUpdate {
                    version: 0,
                    step: 0,
                    weights: self.state.sampler.weights.clone(),
                    losses: vec![],
                })
                .unwrap();
                write_json_line(&mut self.weights_log, &w)?;
            }
        }
        Ok(())
    }

    /// Every rank must start at the same step with the same mixture version (node-local or
    /// stale storage could show each its own checkpoint). Compared through one all-reduce of
    /// (x, x²) per value: the sums equal `n·x` and `n·x²` on a rank only when all ranks hold
    /// the same x, so every rank reaches the same verdict and fails alike.
    fn check_ranks_agree(&self) -> Result<(), TrainError> {
        let n = self.comm.size() as f64;
        if n == 1.0 {
            return Ok(());
        }
        let (step, version) = (self.state.step as f64, self.state.sampler.version as f64);
        let mut v = [step, step * step, version, version * version];
        self.comm.allreduce_f64(&mut v);
        let same = v[0] == n * step
            && v[1] == n * step * step
            && v[2] == n * version
            && v[3] == n * version * version;
        if same {
            return Ok(());
        }
        Err(TrainError::Checkpoint {
            path: self.out().to_path_buf(),
            message: format!(
                "rank {} would resume at step {} (mixture version {}), but the ranks disagree \
                 (mean step {:.1}); every rank must see the same run.out_dir on shared storage",
                self.comm.rank(),
                self.state.step,
                self.state.sampler.version,
                v[0] / n
            ),
        })
    }

    fn broadcast_params(&mut self) {
        if self.comm.size() == 1 {
            return;
        }
        tch::no_grad(|| {
            for (_, p) in self.opt.params.iter_mut() {
                let mut host = Vec::<f32>::try_from(
                    p.to_kind(Kind::Float).flatten(0, -1).to_device(Device::Cpu),
                )
                .expect("f32 params");
                self.comm.broadcast_f32(&mut host);
                let t = Tensor::from_slice(&host)
                    .view(p.size().as_slice())
                    .to_kind(p.kind())
                    .to_device(p.device());
                p.copy_(&t);
            }
        });
    }

    fn save_checkpoint(&mut self, name: &str) -> Result<(), TrainError> {
        if self.comm.rank() != 0 {
            return Ok(());
        }
        let out = self.out().to_path_buf();
        let dir = ckpt_dir(&out, name);
        let tmp = ckpt_dir(&out, &format!("{name}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        self.vs.save(tmp.join("model.ot"))?;
        let mut named: Vec<(String, Tensor)> = vec![];
        for (i, (n, _)) in self.opt.params.iter().enumerate() {
            named.push((format!("m.{n}"), self.opt.m[i].shallow_clone()));
            named.push((format!("v.{n}"), self.opt.v[i].shallow_clone()));
        }
        Tensor::save_multi(&named, tmp.join("optim.ot"))?;
        self.state.opt_t = self.opt.t;
        let state = serde_json::to_vec_pretty(&self.state).expect("state serialises");
        std::fs::write(tmp.join("state.json"), state).map_err(|e| TrainError::io(&tmp, e))?;
        // Swap in: the old checkpoint stays until the new one is in place.
        let old = ckpt_dir(&out, &format!("{name}.old"));
        let _ = std::fs::remove_dir_all(&old);
        if dir.exists() {
            std::fs::rename(&dir, &old).map_err(|e| TrainError::io(&dir, e))?;
        }
        // Every file synced, then renamed and the directory synced: a checkpoint that looks
        // complete after a power loss is complete.
        pipeline::durable::commit(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Saves with the loader cursor as it stood before the next step (the live cursor may
    /// already be ahead by the prefetched plan).
    fn save_at(&mut self, cursor: &Cursor, name: &str) -> Result<(), TrainError> {
        let live = std::mem::replace(&mut self.state.cursor, cursor.clone());
        let r = self.save_checkpoint(name);
        self.state.cursor = live;
        r
    }

    fn load_checkpoint(&mut self, dir: &Path) -> Result<(), TrainError> {
        let bad = |m: String| TrainError::Checkpoint {
            path: dir.to_path_buf(),
            message: m,
        };
        let text = std::fs::read_to_string(dir.join("state.json"))
            .map_err(|e| TrainError::io(dir.join("state.json"), e))?;
        let state: TrainState =
            serde_json::from_str(&text).map_err(|e| bad(format!("state.json: {e}")))?;
        if state.model != self.state.model {
            return Err(bad(format!(
                "was trained with model {:?}, the config now gives {:?}; use a new run.out_dir",
                state.model, self.state.model
            )));
        }
        if state.sampler.names != self.state.sampler.names {
            return Err(bad(
                "the manifest's domains changed since this checkpoint".into()
            ));
        }
        // What fixes each step's global batch: a change there cannot resume exactly. The
        // rank count, grad_accum and threads only split the batch's work (elastic resume).
        let then = &state.config;
        for (key, was, now) in [
            (
                "data.manifest",
                then.data.manifest.clone(),
                self.cfg.data.manifest.clone(),
            ),
            (
                "optim.batch_size",
                then.optim.batch_size.to_string(),
                self.cfg.optim.batch_size.to_string(),
            ),
            (
                "run.seed",
                then.run.seed.to_string(),
                self.cfg.run.seed.to_string(),
            ),
        ] {
            if was != now {
                return Err(bad(format!(
                    "was trained with {key} = {was}, the config now gives {now}: the global \
                     batches would differ, so it cannot resume exactly; use a new run.out_dir"
                )));
            }
        }
        let mut cfg_then = state.config.clone();
        cfg_then.optim.max_steps = self.cfg.optim.max_steps;
        cfg_then.optim.grad_accum = self.cfg.optim.grad_accum;
        cfg_then.run.threads = self.cfg.run.threads;
        cfg_then.eval = self.cfg.eval.clone();
        cfg_then.run.checkpoint_every = self.cfg.run.checkpoint_every;
        if cfg_then != self.cfg {
            return Err(bad(
                "the config changed since this checkpoint (only optim.max_steps, optim.grad_accum, [eval], run.threads and run.checkpoint_every may; the rank count may too); use a new run.out_dir".into(),
            ));
        }
        self.vs.load(dir.join("model.ot"))?;
        let loaded: BTreeMap<String, Tensor> = Tensor::load_multi(dir.join("optim.ot"))?
            .into_iter()
            .collect();
        tch::no_grad(|| -> Result<(), TrainError> {
            for (i, (n, _)) in self.opt.params.iter().enumerate() {
                for (pre, dst) in [("m", &mut self.opt.m[i]), ("v", &mut self.opt.v[i])] {
                    let t = loaded
                        .get(&format!("{pre}.{n}"))
                        .ok_or_else(|| bad(format!("optim.ot lacks {pre}.{n}")))?;
                    dst.copy_(t);
                }
            }
            Ok(())
        })?;
        self.opt.t = state.opt_t;
        self.state = state;
        self.state.config = self.cfg.clone();
        Ok(())
    }

    fn batch_tensors(&self, b: &HostBatch) -> (Tensor, Tensor, Option<(Tensor, Tensor)>) {
        let (n, t) = (b.n as i64, b.t as i64);
        let x = Tensor::from_slice(&b.inputs)
            .view([n, t])
            .to_device(self.device);
        let y = Tensor::from_slice(&b.targets)
            .view([n, t])
            .to_device(self.device);
        let pm = self
            .cfg
            .data
            .doc_mask
            .then(|| doc_positions_and_mask(&b.doc_starts, t, self.device));
        (x, y, pm)
    }

    /// Per-token cross entropy `[n, t]` (0 where there is no target).
    fn token_losses(&self, b: &HostBatch, smoothing: f64) -> Tensor {
        let (x, y, pm) = self.batch_tensors(b);
        let run = || {
            let logits = match &pm {
                Some((p, m)) => self.model.forward(&x, Some(p), Some(m)),
                None => self.model.forward(&x, None, None),
            };
            let v = logits.size()[2];
            logits
                .view([-1, v])
                .to_kind(Kind::Float)
                .cross_entropy_loss::<Tensor>(
                    &y.view([-1]),
                    None,
                    tch::Reduction::None,
                    -100,
                    smoothing,
                )
                .view([b.n as i64, b.t as i64])
        };
        if self.device.is_cuda() {
            tch::autocast(true, run)
        } else {
            run()
        }
    }

    /// Per-domain (loss sum, tokens) of rows (ranks share the work; summed over ranks).
    fn eval_rows(&self, rows: &[(usize, u32)]) -> Result<Vec<(f64, f64)>, TrainError> {
        let d = self.eval_set.domains.len();
        let mut acc = vec![0f64; 2 * d];
        let world = self.comm.size();
        let mine: Vec<(usize, u32)> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % world == self.comm.rank())
            .map(|(_, r)| *r)
            .collect();
        tch::no_grad(|| -> Result<(), TrainError> {
            for chunk in mine.chunks(self.cfg.optim.batch_size.max(1)) {
                let b = gather(&self.eval_set, chunk)?;
                let per_row = self
                    .token_losses(&b, 0.0)
                    .sum_dim_intlist(1, false, Kind::Double);
                let per_row = Vec::<f64>::try_from(per_row.to_device(Device::Cpu)).unwrap();
                for (k, &(dom, _)) in chunk.iter().enumerate() {
                    acc[2 * dom] += per_row[k];
                    acc[2 * dom + 1] += b.target_counts[k] as f64;
                }
            }
            Ok(())
        })?;
        self.comm.allreduce_f64(&mut acc);
        Ok((0..d).map(|i| (acc[2 * i], acc[2 * i + 1])).collect())
    }

    /// Validation loss per domain on up to `rows_per_domain` held-out rows each.
    pub fn evaluate(&self) -> Result<BTreeMap<String, f64>, TrainError> {
        let mut rows = vec![];
        for (d, dom) in self.eval_set.domains.iter().enumerate() {
            rows.extend(
                dom.val
                    .iter()
                    .take(self.cfg.eval.rows_per_domain)
                    .map(|&r| (d, r)),
            );
        }
        let per = self.eval_rows(&rows)?;
        let mut out = BTreeMap::new();
        let (mut s, mut n) = (0.0, 0.0);
        for (d, (ls, lt)) in per.iter().enumerate() {
            if *lt > 0.0 {
                out.insert(self.eval_set.domains[d].name.clone(), ls / lt);
                s += ls;
                n += lt;
            }
        }
        if n > 0.0 {
            out.insert("_all".into(), s / n);
        }
        Ok(out)
    }

    fn plan(&mut self, step: u64) -> Plan {
        let m = &self.cfg.mixing;
        let hard = Hard {
            pools: &self.state.pools,
            fraction: m.hard_fraction,
            temperature: m.hard_temperature,
        };
        plan_step(
            &self.set,
            &self.state.sampler.weights,
            self.cfg.run.seed,
            step,
            self.cfg.optim.batch_size,
            &mut self.state.cursor,
            &mut self.orders,
            (m.hard_fraction > 0.0).then_some(&hard),
        )
    }

    /// Trains until `max_steps`, early stopping, or `stop_after` more steps (then leaves a
    /// checkpoint for a later run to continue from).
    pub fn run(&mut self, stop_after: Option<u64>) -> Result<TrainSummary, TrainError> {
        let (world, rank) = (self.comm.size(), self.comm.rank());
        let accum = self.cfg.optim.grad_accum;
        let prefetch = Prefetcher::new(self.set.clone());
        let end = match stop_after {
            Some(n) => (self.state.step + n).min(self.cfg.optim.max_steps),
            None => self.cfg.optim.max_steps,
        };
        let mut progress = RunProgress {
            last_loss: f64::NAN,
            val: BTreeMap::new(),
            tokens: 0.0,
            started: Instant::now(),
        };
        let mut pending: Option<Plan> = None;
        if self.state.step < end && !self.state.stopped_early {
            let p = self.plan(self.state.step);
            prefetch.submit(rank_micro_batches(&p, rank, world, accum));
            pending = Some(p);
        }
        while let Some(plan) = pending.take() {
            let step = plan.step;
            let t0 = Instant::now();
            let micro = prefetch.take()?;
            let after_cursor = self.state.cursor.clone();
            // Plan the next step now unless the mixture may change before it.
            if step + 1 < end && !self.mixture_may_change_after(step) {
                let p = self.plan(step + 1);
                prefetch.submit(rank_micro_batches(&p, rank, world, accum));
                pending = Some(p);
            }
            let (domains, grad_norm, lr) = self.train_step(&plan, &micro)?;
            progress.last_loss = domains.mean();
            domains.add_to(&mut self.state.window);
            self.state.step = step + 1;
            // The cursor as it stands before the next step to run (what a checkpoint records).
            let cursor_now = match pending.is_some() {
                true => after_cursor,
                false => self.state.cursor.clone(),
            };
            let secs = t0.elapsed().as_secs_f64();
            let toks = plan.samples.len() as f64 * self.set.seq_len() as f64;
            progress.tokens += toks;
            if rank == 0 && (step % self.cfg.run.log_every == 0 || step + 1 == end) {
                let line = StepLine {
                    step,
                    loss: progress.last_loss,
                    lr,
                    grad_norm,
                    toks,
                    secs,
                    rows: self.cfg.run.log_rows.then(|| plan.samples.clone()),
                };
                self.log_step(&line, &domains)?;
            }
            self.update_mixture(step)?;
            let stop = self.evaluate_if_due(step, &cursor_now, &mut progress.val)?;
            let ckpt_every = self.cfg.run.checkpoint_every;
            if (ckpt_every > 0 && (step + 1).is_multiple_of(ckpt_every)) || step + 1 == end || stop
            {
                self.save_at(&cursor_now, "latest")?;
            }
            if stop {
                break;
            }
            if pending.is_none() && step + 1 < end {
                let p = self.plan(step + 1);
                prefetch.submit(rank_micro_batches(&p, rank, world, accum));
                pending = Some(p);
            }
        }
        drop(prefetch);
        self.comm.barrier();
        if progress.val.is_empty() {
            progress.val = self.evaluate()?;
        }
        Ok(self.summary(progress))
    }

    /// Whether the weights may change between `step` and the next (a mixture update, a
    /// replayed one, or the high-loss pool, which needs this step's losses): the next step
    /// can only be planned after this one.
    fn mixture_may_change_after(&self, step: u64) -> bool {
        let m = &self.cfg.mixing;
        m.hard_fraction > 0.0
            || (step + 1).is_multiple_of(m.update_every)
            || self.replay.iter().any(|u| u.step == step + 1)
    }

    /// One optimiser step on `plan`, of which `micro` are this rank's micro-batches: forward
    /// and backward, gradients and losses summed over ranks, the high-loss pools, clipping
    /// and AdamW. Returns the global loss per domain, the gradient norm and the learning rate.
    fn train_step(
        &mut self,
        plan: &Plan,
        micro: &[HostBatch],
    ) -> Result<(LossTally, f64, f64), TrainError> {
        let (mut domains, mut samples) = self.forward_backward(plan, micro);
        let hard = self.cfg.mixing.hard_fraction > 0.0;
        if self.comm.size() > 1 {
            let mut g = self.opt.flat_grads();
            self.comm.allreduce_f32(&mut g);
            self.opt.set_flat_grads(&g);
            domains.all_reduce(self.comm.as_ref());
            if hard {
                samples.all_reduce(self.comm.as_ref());
            }
        }
        if hard {
            let losses: Vec<f64> = (0..plan.samples.len())
                .map(|i| samples.mean_of(i))
                .collect();
            let pool = self.cfg.mixing.hard_pool;
            update_pools(&mut self.state.pools, &plan.samples, &losses, pool);
        }
        let o = &self.cfg.optim;
        let grad_norm = self.opt.clip_grad_norm(o.grad_clip);
        let lr = lr_at(plan.step, o.lr, o.warmup_steps, o.max_steps, o.min_lr_ratio);
        self.opt.step(lr);
        Ok((domains, grad_norm, lr))
    }

    /// Forward and backward over this rank's micro-batches (gradients accumulate in the
    /// parameters). Returns this rank's loss and target tokens per domain and per global
    /// sample (this rank's k-th row is sample `rank + k·world`).
    fn forward_backward(&mut self, plan: &Plan, micro: &[HostBatch]) -> (LossTally, LossTally) {
        let (world, rank) = (self.comm.size(), self.comm.rank());
        // (This rank's target tokens, summed over ranks: a rank reads only its own rows,
        // which matters when the shards are fetched from a bucket.)
        let mut global_tokens = [(micro.iter())
            .flat_map(|b| &b.target_counts)
            .map(|&c| c as f64)
            .sum::<f64>()];
        self.comm.allreduce_f64(&mut global_tokens);
        let global_tokens = global_tokens[0];
        let mut domains = LossTally::new(self.set.domains.len());
        let mut samples = LossTally::new(plan.samples.len());
        let mut k_global = 0usize;
        self.opt.zero_grad();
        for b in micro.iter().filter(|b| b.n > 0) {
            let tl = self.token_losses(b, self.cfg.optim.label_smoothing);
            let loss = tl.sum(Kind::Float) / global_tokens.max(1.0);
            loss.backward();
            let per_row = tl.detach().sum_dim_intlist(1, false, Kind::Double);
            let per_row = Vec::<f64>::try_from(per_row.to_device(Device::Cpu)).unwrap();
            for (k, row_loss) in per_row.iter().enumerate() {
                let toks = b.target_counts[k] as f64;
                domains.add(b.domains[k] as usize, *row_loss, toks);
                samples.add(rank + k_global * world, *row_loss, toks);
                k_global += 1;
            }
        }
        (domains, samples)
    }

    /// Writes a step's line to `log.jsonl`.
    fn log_step(&mut self, l: &StepLine, domains: &LossTally) -> Result<(), TrainError> {
        let per_domain: BTreeMap<&str, f64> = (self.set.domains.iter().enumerate())
            .filter(|(i, _)| domains.tokens[*i] > 0.0)
            .map(|(i, d)| (d.name.as_str(), domains.mean_of(i)))
            .collect();
        let (peak, world) = (self.cfg.run.peak_tflops, self.comm.size() as f64);
        let flops = self.state.model.flops_per_token();
        let mfu = (peak > 0.0).then(|| flops * l.toks / l.secs / (peak * 1e12) / world);
        let mut line = serde_json::json!({"step": l.step, "loss": l.loss, "lr": l.lr,
            "grad_norm": l.grad_norm, "tokens_per_s": l.toks / l.secs, "mfu": mfu,
            "domain_loss": per_domain, "weights_version": self.state.sampler.version});
        if let Some(rows) = &l.rows {
            line["rows"] = serde_json::json!(rows);
        }
        write_json_line(&mut self.log, &line)
    }

    /// The mixture update (or its replay) for the steps from `step + 1` on.
    fn update_mixture(&mut self, step: u64) -> Result<(), TrainError> {
        let d = self.set.domains.len();
        let replayed = self.replay.iter().find(|u| u.step == step + 1).cloned();
        let due = self.replay.is_empty() && (step + 1).is_multiple_of(self.cfg.mixing.update_every);
        let update = if let Some(u) = replayed {
            self.state.sampler.apply(&u);
            Some(u)
        } else if !due {
            return Ok(());
        } else {
            self.state
                .sampler
                .close_window(&self.state.window, step + 1)
        };
        self.state.window = vec![(0.0, 0.0); d];
        match update {
            Some(u) => write_json_line(&mut self.weights_log, &serde_json::to_value(&u).unwrap()),
            None => Ok(()),
        }
    }

    /// Evaluates when `step` is an eval step: logs the losses into `val`, keeps the best
    /// checkpoint, and returns whether early stopping fires.
    fn evaluate_if_due(
        &mut self,
        step: u64,
        cursor: &Cursor,
        val: &mut BTreeMap<String, f64>,
    ) -> Result<bool, TrainError> {
        let e = self.cfg.eval.clone();
        if !((e.every > 0 && (step + 1).is_multiple_of(e.every))
            || step + 1 == self.cfg.optim.max_steps)
        {
            return Ok(false);
        }
        *val = self.evaluate()?;
        let all = val.get("_all").copied().unwrap_or(f64::NAN);
        write_json_line(
            &mut self.log,
            &serde_json::json!({"step": step, "eval": &*val}),
        )?;
        if self.state.best_val.is_none_or(|b| all < b - e.min_delta) {
            self.state.best_val = Some(all);
            self.state.bad_evals = 0;
            self.save_at(cursor, "best")?;
            return Ok(false);
        }
        self.state.bad_evals += 1;
        let stop = e.patience > 0 && self.state.bad_evals >= e.patience;
        self.state.stopped_early |= stop;
        Ok(stop)
    }

    fn summary(&self, p: RunProgress) -> TrainSummary {
        let sampler = &self.state.sampler;
        let weights = sampler
            .names
            .iter()
            .cloned()
            .zip(sampler.weights.iter().copied());
        let rows = self.cfg.eval.rows_per_domain;
        TrainSummary {
            steps: self.state.step,
            resumed_from: self.resumed_from,
            stopped_early: self.state.stopped_early,
            final_train_loss: p.last_loss,
            val_loss: p.val,
            val_rows: (self.eval_set.domains.iter())
                .map(|d| (d.name.clone(), d.val.len().min(rows)))
                .collect(),
            weights: weights.collect(),
            out_dir: self.out().to_path_buf(),
            tokens_per_s: p.tokens / p.started.elapsed().as_secs_f64().max(1e-9),
        }
    }

    /// A checksum of all parameters (sum of |p|), to compare ranks and runs.
    pub fn param_checksum(&self) -> f64 {
        self.opt
            .params
            .iter()
            .map(|(_, p)| p.abs().sum(Kind::Double).double_value(&[]))
            .sum()
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// What this rank's cache of shards fetched from a bucket did (`None` for local shards).
    pub fn shard_cache(&self) -> Option<feed::cache::CacheStats> {
        self.set.cache_stats()
    }

    pub fn world(&self) -> usize {
        self.comm.size()
    }

    /// Gathers each rank's parameter checksum on every rank.
    pub fn checksums_of_all_ranks(&self) -> Vec<f64> {
        let mut v = vec![0f64; self.comm.size()];
        v[self.comm.rank()] = self.param_checksum();
        self.comm.allreduce_f64(&mut v);
        v
    }
}

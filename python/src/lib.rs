//! `sluice._native`: the Rust half of the Python package. It exposes the `feed` crate that
//! `sluice train` reads through: the memory-mapped shards (`Shards`, local or fetched from a
//! bucket into a size-limited cache), the step plan with its
//! per-domain cursors (`Planner`), the mixture rules (`Sampler`) and document positions. The
//! PyTorch pieces (`ShardDataset`, `DomainMixer`) are Python, in `python/sluice/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use feed::loader::{doc_positions, plan_step, row_io, RowIo};
use feed::sampler::{initial_weights, Cursor, DomainSampler, Rule, WeightsUpdate};
use feed::ShardSet;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

// Defined in Python (sluice/_errors.py) so that it pickles across DataLoader workers.
pyo3::import_exception!(sluice._errors, SluiceError);

fn err(e: impl std::fmt::Display) -> PyErr {
    SluiceError::new_err(e.to_string())
}

/// Writes `values` as native-endian i64 into `out` (8 bytes each).
fn put_i64(out: &mut [u8], values: impl Iterator<Item = i64>) {
    for (chunk, v) in out.chunks_exact_mut(8).zip(values) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
}

/// `Shards.gather`'s result: the token buffer, each row's document starts and target count.
type Gathered<'py> = (Bound<'py, PyByteArray>, Vec<Vec<u32>>, Vec<usize>);

/// The shards of one manifest, memory-mapped, with the trainer's train/validation split.
#[pyclass(frozen, module = "sluice._native")]
struct Shards {
    set: Arc<ShardSet>,
}

#[pymethods]
impl Shards {
    #[new]
    #[pyo3(signature = (manifest, val_fraction = 0.05, cache_mb = None))]
    fn new(manifest: String, val_fraction: f64, cache_mb: Option<u64>) -> PyResult<Self> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(err(format!(
                "val_fraction must be within 0..1, got {val_fraction}"
            )));
        }
        let set = ShardSet::open(&manifest, val_fraction, cache_mb).map_err(err)?;
        Ok(Shards { set: Arc::new(set) })
    }

    /// What the local cache of shards from a bucket did so far: fetched (shards and
    /// bytes), hits, evicted, peak_bytes, limit_bytes; `None` for local shards.
    #[getter]
    fn cache_stats(&self) -> Option<BTreeMap<&'static str, Option<u64>>> {
        self.set.cache_stats().map(|c| {
            BTreeMap::from([
                ("fetched", Some(c.fetched)),
                ("fetched_bytes", Some(c.fetched_bytes)),
                ("hits", Some(c.hits)),
                ("evicted", Some(c.evicted)),
                ("peak_bytes", Some(c.peak_bytes)),
                ("limit_bytes", c.limit_bytes),
            ])
        })
    }

    /// Domain names, in the manifest's (and the trainer's) order.
    #[getter]
    fn domains(&self) -> Vec<String> {
        self.set.domains.iter().map(|d| d.name.clone()).collect()
    }

    #[getter]
    fn tokens(&self) -> Vec<u64> {
        self.set.domains.iter().map(|d| d.tokens).collect()
    }

    #[getter]
    fn seq_len(&self) -> usize {
        self.set.seq_len()
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.set.vocab_size()
    }

    #[getter]
    fn eos_id(&self) -> u32 {
        self.set.manifest.tokenizer.eos_id
    }

    /// The training rows of domain `d` (indices into its rows).
    fn train_rows(&self, d: usize) -> PyResult<Vec<u32>> {
        Ok(self.domain(d)?.train.clone())
    }

    /// The validation rows of domain `d`.
    fn val_rows(&self, d: usize) -> PyResult<Vec<u32>> {
        Ok(self.domain(d)?.val.clone())
    }

    /// The starting mixture: `configured` weights by domain name, else token shares.
    #[pyo3(signature = (configured = BTreeMap::new()))]
    fn initial_weights(&self, configured: BTreeMap<String, f64>) -> PyResult<Vec<f64>> {
        let tokens: Vec<(String, u64)> = (self.set.domains.iter())
            .map(|d| (d.name.clone(), d.tokens))
            .collect();
        initial_weights(&tokens, &configured).map_err(err)
    }

    /// Row `row` of domain `d` as stored: its `seq_len + 1` ids, document starts and real
    /// token count.
    fn row(&self, d: usize, row: u32) -> PyResult<(Vec<u32>, Vec<u32>, usize)> {
        let dom = self.domain(d)?;
        if row as usize >= dom.rows() {
            return Err(err(format!(
                "domain {} has {} rows, asked for row {row}",
                dom.name,
                dom.rows()
            )));
        }
        let r = self.set.row(d, row as usize).map_err(err)?;
        Ok((r.ids().to_vec(), r.doc_starts(), r.valid_len()))
    }

    /// The inputs and targets of `rows` ((domain, row) pairs) as one native-endian int64
    /// bytearray of `2 * len(rows) * seq_len` values (inputs, then targets: one buffer for
    /// `torch.frombuffer`, so a DataLoader worker hands one storage over, not two), with each
    /// row's document starts and real target count.
    fn gather<'py>(&self, py: Python<'py>, rows: Vec<(usize, u32)>) -> PyResult<Gathered<'py>> {
        for &(d, r) in &rows {
            let dom = self.domain(d)?;
            if r as usize >= dom.rows() {
                return Err(err(format!("domain {} has no row {r}", dom.name)));
            }
        }
        let t = self.set.seq_len();
        let half = rows.len() * t * 8;
        // Shards from a bucket may be fetched here: without holding the GIL.
        let rows: Vec<RowIo> = py
            .detach(|| {
                rows.iter()
                    .map(|&(d, r)| row_io(&self.set, d, r))
                    .collect::<Result<_, _>>()
            })
            .map_err(err)?;
        let (mut starts, mut counts) = (Vec::new(), Vec::new());
        let buf = PyByteArray::new_with(py, 2 * half, |out| {
            let (inputs, targets) = out.split_at_mut(half);
            for (k, row) in rows.into_iter().enumerate() {
                let at = k * t * 8..(k + 1) * t * 8;
                put_i64(&mut inputs[at.clone()], row.inputs());
                put_i64(&mut targets[at], row.targets());
                counts.push(row.targets);
                starts.push(row.doc_starts);
            }
            Ok(())
        })?;
        Ok((buf, starts, counts))
    }
}

impl Shards {
    fn domain(&self, d: usize) -> PyResult<&feed::data::DomainRows> {
        self.set.domains.get(d).ok_or_else(|| {
            err(format!(
                "no domain {d}: the manifest has {}",
                self.set.domains.len()
            ))
        })
    }
}

/// The global batch of each step, drawn exactly as `sluice train` draws it: a pure function
/// of (seed, step, weights) and the per-domain cursors, which advance step by step.
#[pyclass(module = "sluice._native")]
struct Planner {
    set: Arc<ShardSet>,
    seed: u64,
    batch: usize,
    cursor: Cursor,
    orders: Vec<(u64, Vec<u32>)>,
    next_step: u64,
}

#[pymethods]
impl Planner {
    #[new]
    fn new(shards: &Shards, seed: u64, batch_size: usize) -> PyResult<Self> {
        if batch_size == 0 {
            return Err(err("batch_size must be at least 1"));
        }
        let d = shards.set.domains.len();
        Ok(Planner {
            set: shards.set.clone(),
            seed,
            batch: batch_size,
            cursor: Cursor::new(d),
            orders: vec![(u64::MAX, vec![]); d],
            next_step: 0,
        })
    }

    /// The next step to plan.
    #[getter]
    fn next_step(&self) -> u64 {
        self.next_step
    }

    /// Plans `step` (which must be the next one) with `weights`: its (domain, row) pairs.
    fn plan(&mut self, step: u64, weights: Vec<f64>) -> PyResult<Vec<(usize, u32)>> {
        self.draw(step, &weights)
    }

    /// Plans `step` like `plan` without returning its rows (another worker's step).
    fn advance(&mut self, step: u64, weights: Vec<f64>) -> PyResult<()> {
        self.draw(step, &weights).map(|_| ())
    }

    /// (next step, per-domain epoch, per-domain position): where the plan stands.
    fn state(&self) -> (u64, Vec<u64>, Vec<u64>) {
        (
            self.next_step,
            self.cursor.epoch.clone(),
            self.cursor.pos.clone(),
        )
    }

    /// Continues from a `state()`.
    fn set_state(&mut self, next_step: u64, epoch: Vec<u64>, pos: Vec<u64>) -> PyResult<()> {
        let d = self.set.domains.len();
        if epoch.len() != d || pos.len() != d {
            return Err(err(format!("a cursor of {d} domains was expected")));
        }
        self.cursor = Cursor { epoch, pos };
        self.next_step = next_step;
        Ok(())
    }
}

impl Planner {
    fn draw(&mut self, step: u64, weights: &[f64]) -> PyResult<Vec<(usize, u32)>> {
        if step != self.next_step {
            return Err(err(format!(
                "steps are planned in order: the next is {}, asked for {step}",
                self.next_step
            )));
        }
        let d = self.set.domains.len();
        let sum: f64 = weights.iter().sum();
        if weights.len() != d
            || weights.iter().any(|w| w.is_nan() || *w < 0.0)
            || (sum - 1.0).abs() > 1e-6
        {
            return Err(err(format!(
                "weights must be {d} values >= 0 summing to 1, got {weights:?}"
            )));
        }
        let plan = plan_step(
            &self.set,
            weights,
            self.seed,
            step,
            self.batch,
            &mut self.cursor,
            &mut self.orders,
            None,
        );
        self.next_step += 1;
        Ok(plan.samples)
    }
}

/// A domain mixture rule (static, exp3, doremi) with the trainer's parameters.
#[pyclass(module = "sluice._native")]
struct Sampler {
    inner: DomainSampler,
}

fn parse_rule(rule: &str) -> PyResult<Rule> {
    serde_json::from_value(serde_json::Value::String(rule.into())).map_err(|_| {
        err(format!(
            "rule must be \"static\", \"exp3\" or \"doremi\", got {rule:?}"
        ))
    })
}

#[pymethods]
impl Sampler {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        names: Vec<String>,
        initial: Vec<f64>,
        rule: &str,
        eta: f64,
        smoothing: f64,
        min_weight: f64,
        reference: Vec<f64>,
    ) -> PyResult<Self> {
        let rule = parse_rule(rule)?;
        if names.len() != initial.len() || names.len() != reference.len() {
            return Err(err(
                "names, initial and reference must have one entry per domain",
            ));
        }
        if !(0.0..1.0).contains(&smoothing) || !(0.0..1.0).contains(&min_weight) || !eta.is_finite()
        {
            return Err(err(
                "smoothing and min_weight must be within 0..1 and eta finite",
            ));
        }
        Ok(Sampler {
            inner: DomainSampler::new(names, initial, rule, eta, smoothing, min_weight, reference),
        })
    }

    #[getter]
    fn weights(&self) -> Vec<f64> {
        self.inner.weights.clone()
    }

    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }

    #[getter]
    fn reference(&self) -> Vec<f64> {
        self.inner.reference.clone()
    }

    /// Ends a window of per-domain (loss sum, token count): the update as a `weights.jsonl`
    /// line, or None (static rule, DoReMi's reference window, or no domain seen).
    fn close_window(
        &mut self,
        window: Vec<(f64, f64)>,
        next_step: u64,
    ) -> PyResult<Option<String>> {
        if window.len() != self.inner.names.len() {
            return Err(err(format!(
                "{} domains, a window of {}",
                self.inner.names.len(),
                window.len()
            )));
        }
        let u = self.inner.close_window(&window, next_step);
        u.map(|u| serde_json::to_string(&u).map_err(err))
            .transpose()
    }

    /// Applies a logged update (a `weights.jsonl` line) and returns its first step.
    fn apply(&mut self, line: &str) -> PyResult<u64> {
        let u: WeightsUpdate =
            serde_json::from_str(line).map_err(|e| err(format!("not a weights update: {e}")))?;
        if u.weights.len() != self.inner.names.len() {
            return Err(err(format!(
                "a weights update of {} domains, the mixture has {}",
                u.weights.len(),
                self.inner.names.len()
            )));
        }
        self.inner.apply(&u);
        Ok(u.step)
    }

    /// The whole state (rule, parameters, log-weights, reference, version) as JSON.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner).map_err(err)
    }

    #[staticmethod]
    fn from_json(s: &str) -> PyResult<Self> {
        let inner = serde_json::from_str(s).map_err(|e| err(format!("not a mixer state: {e}")))?;
        Ok(Sampler { inner })
    }
}

/// Position ids and document segment ids of rows with `doc_starts`, as int64 bytearrays of
/// `len(starts) * t` values: positions restart at each document, segments number them.
fn positions<'py>(
    py: Python<'py>,
    starts: Vec<Vec<u32>>,
    t: usize,
) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
    let (pos, seg) = doc_positions(&starts, t);
    let pos = PyByteArray::new_with(py, pos.len() * 8, |o| {
        put_i64(o, pos.iter().copied());
        Ok(())
    })?;
    let seg = PyByteArray::new_with(py, seg.len() * 8, |o| {
        put_i64(o, seg.iter().copied());
        Ok(())
    })?;
    Ok((pos, seg))
}

#[pyfunction]
#[pyo3(name = "doc_positions")]
fn doc_positions_py<'py>(
    py: Python<'py>,
    starts: Vec<Vec<u32>>,
    t: usize,
) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
    positions(py, starts, t)
}

/// The bytes of a manifest (a path or `s3://…/manifest.json`), for its fingerprint.
#[pyfunction]
fn manifest_bytes(py: Python<'_>, manifest: String) -> PyResult<Bound<'_, PyBytes>> {
    let bytes = py
        .detach(|| feed::manifest::read_bytes(&manifest))
        .map_err(err)?;
    Ok(PyBytes::new(py, &bytes))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(manifest_bytes, m)?)?;
    m.add_class::<Shards>()?;
    m.add_class::<Planner>()?;
    m.add_class::<Sampler>()?;
    m.add_function(wrap_pyfunction!(doc_positions_py, m)?)?;
    Ok(())
}

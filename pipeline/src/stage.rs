//! The `Stage` trait every component implements, the barrier stages that split a run into
//! phases, and the registry that builds stages from `[[stages]]` tables of the TOML config.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{BooleanArray, BooleanBuilder, RecordBatch, StringArray, StringBuilder};

use crate::error::StageError;
use crate::writer::PartWriter;

/// What a stage sees besides the batch: which shard, where the batch sits in the shard's
/// stream for this stage, and free counters (e.g. PII matches per kind) merged into stats.
#[derive(Debug, Default)]
pub struct StageContext {
    pub shard: usize,
    /// Index, within this shard, of the batch's first row among all rows fed to this stage.
    pub row_offset: u64,
    counters: BTreeMap<String, u64>,
}

impl StageContext {
    pub fn new(shard: usize) -> Self {
        StageContext {
            shard,
            ..Default::default()
        }
    }

    /// Adds `n` to the named counter of this stage.
    pub fn count(&mut self, key: &str, n: u64) {
        if n > 0 {
            *self.counters.entry(key.to_string()).or_default() += n;
        }
    }

    pub fn take_counters(&mut self) -> BTreeMap<String, u64> {
        std::mem::take(&mut self.counters)
    }
}

/// A stage's answer for one batch: the batch (columns may be added or replaced, rows never
/// reordered), a keep mask, and for rejected rows a reason code (`gopher_quality.stop_words`) and
/// an optional free-text detail.
#[derive(Debug, Clone)]
pub struct StageOutput {
    pub batch: RecordBatch,
    pub keep: BooleanArray,
    pub reason: StringArray,
    pub detail: StringArray,
}

impl StageOutput {
    /// Keeps every row.
    pub fn keep_all(batch: RecordBatch) -> Self {
        let mut d = Decisions::with_capacity(batch.num_rows());
        for _ in 0..batch.num_rows() {
            d.keep();
        }
        d.finish(batch)
    }

    pub fn kept(&self) -> usize {
        self.keep.true_count()
    }
}

/// Builds the keep mask and reason columns of a [`StageOutput`] row by row.
#[derive(Default)]
pub struct Decisions {
    keep: BooleanBuilder,
    reason: StringBuilder,
    detail: StringBuilder,
}

impl Decisions {
    pub fn with_capacity(n: usize) -> Self {
        Decisions {
            keep: BooleanBuilder::with_capacity(n),
            reason: StringBuilder::with_capacity(n, 0),
            detail: StringBuilder::with_capacity(n, 0),
        }
    }

    pub fn keep(&mut self) {
        self.keep.append_value(true);
        self.reason.append_null();
        self.detail.append_null();
    }

    pub fn reject(&mut self, reason: &str, detail: Option<&str>) {
        self.keep.append_value(false);
        self.reason.append_value(reason);
        self.detail.append_option(detail);
    }

    /// Finishes the decisions for `batch`; panics if the row counts differ, which is a bug in
    /// the stage, not bad input.
    pub fn finish(mut self, batch: RecordBatch) -> StageOutput {
        let keep = self.keep.finish();
        assert_eq!(
            keep.len(),
            batch.num_rows(),
            "a stage decided on a different number of rows than it was given"
        );
        StageOutput {
            batch,
            keep,
            reason: self.reason.finish(),
            detail: self.detail.finish(),
        }
    }
}

/// A streaming stage: sees one batch at a time and decides which rows go on.
pub trait Stage: Send + Sync {
    fn name(&self) -> &str;
    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError>;
    /// The columns of this stage's output given its input's, checked when the config loads
    /// (before any work): a stage that reads a column refuses here if no earlier stage or
    /// the reader provides it; one that adds columns lists them.
    fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        Ok(input.to_vec())
    }
}

/// `input` with `added` appended where not already present.
pub fn columns_plus(input: &[String], added: &[&str]) -> Vec<String> {
    let mut out = input.to_vec();
    for a in added {
        if !out.iter().any(|c| c == a) {
            out.push(a.to_string());
        }
    }
    out
}

/// A stage that needs every shard before it can decide (dedup). The executor ends a phase
/// at a barrier: each shard's surviving rows are shown to an [`BarrierObserver`] and written
/// to an intermediate file; once all shards are done `resolve` runs once; the next phase then
/// starts each shard with the barrier's `applier`, which sees the rows in the same order.
pub trait Barrier: Send + Sync {
    fn name(&self) -> &str;
    /// Collects what the barrier needs from one shard; files go under `dir` (the barrier's
    /// own work dir) and must be written atomically by `finish`.
    fn observer(&self, shard: usize, dir: &Path) -> Result<Box<dyn BarrierObserver>, StageError>;
    /// How many independent pieces (partitions) the resolve has; each runs through
    /// [`resolve_part`](Self::resolve_part) on any worker or machine before `resolve`.
    fn resolve_parts(&self) -> usize {
        0
    }
    /// Piece `part` of the resolve, with `workers` pieces running at once (for memory
    /// budgets). Must write its files atomically and be idempotent.
    fn resolve_part(
        &self,
        _dir: &Path,
        _shards: usize,
        _part: usize,
        _workers: usize,
    ) -> Result<(), StageError> {
        Ok(())
    }
    /// Runs once after every shard was observed and every piece resolved. Must be
    /// idempotent: a crash during it is followed by a rerun.
    fn resolve(&self, dir: &Path, shards: usize, workers: usize) -> Result<(), StageError>;
    /// The stage that applies the decision to one shard's rows in the next phase. Its
    /// output must depend only on those rows (and their numbering) and `dir`: when the next
    /// phase holds no other stage and ends at a barrier, it writes no rows and the phase
    /// after it runs a fresh applier again on the same rows.
    fn applier(&self, shard: usize, dir: &Path) -> Result<Box<dyn Stage>, StageError>;
    /// The columns its applier's output has, given its input's (see
    /// [`Stage::output_columns`]).
    fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        Ok(input.to_vec())
    }
    /// Called by the process driving the run (or one step of it) before any of its tasks:
    /// take locks on state outside the run and pin what the run reads of it (a persistent
    /// dedup index). The guard is held until that process's part ends. Default: nothing.
    fn begin(&self, _run: &BarrierRun) -> Result<Option<RunGuard>, StageError> {
        Ok(None)
    }
    /// Called once every phase is done, before the run is marked complete, with the guard
    /// of [`begin`](Self::begin) held: add what the run leaves to state outside it. Must be
    /// idempotent (a crash between it and the completion marker is followed by a rerun).
    fn publish(&self, _run: &BarrierRun) -> Result<(), StageError> {
        Ok(())
    }
}

/// Held while a run uses outside state (dropping it releases locks).
pub type RunGuard = Box<dyn std::any::Any + Send>;

/// Who is running a barrier, for [`Barrier::begin`] and [`Barrier::publish`].
#[derive(Debug, Clone)]
pub struct BarrierRun {
    /// The barrier's work dir.
    pub dir: PathBuf,
    /// The run's name: its output directory's name (a date for a nightly run).
    pub name: String,
    /// The run's fingerprint (config and inputs; the same for a rerun of the same run).
    pub fingerprint: String,
}

pub trait BarrierObserver: Send {
    /// `row_offset` is the index within the shard of the batch's first row.
    fn observe(&mut self, batch: &RecordBatch, row_offset: u64) -> Result<(), StageError>;
    fn finish(self: Box<Self>) -> Result<(), StageError>;
}

/// A configured stage of either kind.
pub enum StageKind {
    Stream(Box<dyn Stage>),
    Barrier(Box<dyn Barrier>),
}

impl StageKind {
    pub fn name(&self) -> &str {
        match self {
            StageKind::Stream(s) => s.name(),
            StageKind::Barrier(b) => b.name(),
        }
    }

    /// See [`Stage::output_columns`].
    pub fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        match self {
            StageKind::Stream(s) => s.output_columns(input),
            StageKind::Barrier(b) => b.output_columns(input),
        }
    }
}

/// What a stage factory may need besides its own table. One pipeline's stages are all built
/// with the same env (or clones of it).
#[derive(Debug, Clone)]
pub struct StageEnv {
    /// Directory of the config file; relative paths in stage tables resolve against it.
    pub base_dir: PathBuf,
    /// Every file a stage resolved (models, word lists): part of the run's fingerprint.
    referenced: Arc<Mutex<Vec<PathBuf>>>,
    /// [`StageEnv::shared`]'s values, one per type.
    shared: Arc<Mutex<SharedValues>>,
}

/// Values the stages of one pipeline share, keyed by their type.
#[derive(Default)]
struct SharedValues(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl std::fmt::Debug for SharedValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} shared values", self.0.len())
    }
}

impl StageEnv {
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        StageEnv {
            base_dir: base_dir.into(),
            referenced: Arc::default(),
            shared: Arc::default(),
        }
    }

    /// The pipeline's one value of type `T`, made with `T::default()` on the first request:
    /// state its stages share, such as how many of them analyse documents the same way.
    pub fn shared<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut values = self.shared.lock().expect("not poisoned");
        let value = values.0.entry(TypeId::of::<T>());
        let value = value.or_insert_with(|| Arc::new(T::default()));
        Arc::clone(value)
            .downcast::<T>()
            .expect("keyed by its type")
    }

    /// `p` against the config's directory; the file is recorded as one the run depends on.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        };
        self.referenced
            .lock()
            .expect("not poisoned")
            .push(full.clone());
        full
    }

    /// The files resolved so far, in order, without repeats.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        let mut seen = std::collections::BTreeSet::new();
        let files = self.referenced.lock().expect("not poisoned");
        files.iter().filter(|f| seen.insert(*f)).cloned().collect()
    }
}

/// Builds a stage from its `[[stages]]` table (without the `type` key). The error is a message
/// that says what to change.
pub type StageFactory = fn(toml::Table, &StageEnv) -> Result<StageKind, String>;

/// A stage type as registered: its `type` name, what it does and what it leaves (reject
/// reasons, added columns) for `sluice stages`, and its factory.
#[derive(Clone, Copy)]
pub struct StageInfo {
    pub type_name: &'static str,
    /// One line: what the stage does.
    pub summary: &'static str,
    /// Its reject reasons (`type.reason`) and the columns or counters it adds.
    pub outputs: &'static str,
    pub factory: StageFactory,
}

/// A step that runs once on the whole curated output after the last phase (tokenize-and-pack
/// is one), configured by a top-level section of the pipeline config. It runs under the run's
/// lock, before the run is marked complete: if it fails or the process dies in it, the next
/// run calls it again, so it must be idempotent.
pub trait FinishStep: Send + Sync {
    fn name(&self) -> &str;
    /// The share of the step that runs beside each shard of the last phase, on whichever rank
    /// and worker writes that shard's curated documents, so that the work scales out with the
    /// shards (tokenize encodes there). `None`: everything happens in [`run`](Self::run).
    fn shard_part(&self) -> Option<Box<dyn FinishPart>> {
        None
    }
    /// Runs on the output dir `out` with `workers` threads; the error says what went wrong.
    fn run(&self, out: &Path, workers: usize) -> Result<(), String>;
}

/// One shard's share of a [`FinishStep`]: it sees the shard's curated batches in order and
/// writes its file ([`crate::OutputLayout::finish_part`]), which the executor commits with
/// the shard's other files (a killed shard leaves none). `run` may read it, or redo the
/// shard's share from `curated/` where it is absent (a run from before the part existed).
pub trait FinishPart: Send {
    fn observe(&mut self, batch: &RecordBatch, out: &mut PartWriter) -> Result<(), StageError>;
    fn finish(self: Box<Self>, out: &mut PartWriter) -> Result<(), StageError>;
}

/// Builds a [`FinishStep`] from its config section; resolve files through the [`StageEnv`] so
/// that they join the run's fingerprint.
pub type FinishFactory = fn(toml::Table, &StageEnv) -> Result<Box<dyn FinishStep>, String>;

/// Maps the `type` of a `[[stages]]` table to the stage type that builds it, and a config
/// section (`tokenize`) to the [`FinishStep`] that builds it.
#[derive(Default, Clone)]
pub struct StageRegistry {
    stages: BTreeMap<&'static str, StageInfo>,
    finish: BTreeMap<&'static str, FinishFactory>,
}

impl StageRegistry {
    /// A registry holding the pipeline crate's own generic stages.
    pub fn with_builtins() -> Self {
        let mut r = StageRegistry::default();
        crate::stages::register(&mut r);
        r
    }

    pub fn register(&mut self, info: StageInfo) {
        self.stages.insert(info.type_name, info);
    }

    /// Registers the builder of the finish step configured by section `section`.
    pub fn register_finish(&mut self, section: &'static str, factory: FinishFactory) {
        self.finish.insert(section, factory);
    }

    /// Builds the finish step of section `section` from its table.
    pub fn build_finish(
        &self,
        section: &str,
        table: toml::Table,
        env: &StageEnv,
    ) -> Result<Box<dyn FinishStep>, String> {
        let factory = self
            .finish
            .get(section)
            .ok_or_else(|| format!("this build of sluice has no [{section}] step"))?;
        factory(table, env)
    }

    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.stages.keys().copied()
    }

    /// Every registered stage type, by name.
    pub fn infos(&self) -> impl Iterator<Item = &StageInfo> + '_ {
        self.stages.values()
    }

    /// Builds the stage described by `table` (which must have a string `type`).
    pub fn build(&self, mut table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
        let ty = match table.remove("type") {
            Some(toml::Value::String(s)) => s,
            Some(_) => return Err("`type` must be a string".into()),
            None => {
                return Err(format!(
                    "missing `type`; one of: {}",
                    self.types().collect::<Vec<_>>().join(", ")
                ))
            }
        };
        let factory = self
            .stages
            .get(ty.as_str())
            .map(|i| i.factory)
            .ok_or_else(|| {
                format!(
                    "unknown stage type '{ty}'; one of: {}",
                    self.types().collect::<Vec<_>>().join(", ")
                )
            })?;
        factory(table, env).map_err(|e| format!("type '{ty}': {e}"))
    }
}

/// Deserializes a stage table into its typed config (use `#[serde(deny_unknown_fields)]` on
/// it so that misspelt keys fail).
pub fn parse_stage_table<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// One value per type per pipeline: clones of an env share it, another env has its own.
    #[test]
    fn shared_values_are_per_env_and_type() {
        let env = StageEnv::new(".");
        env.shared::<AtomicUsize>().fetch_add(1, Ordering::Relaxed);
        env.clone()
            .shared::<AtomicUsize>()
            .fetch_add(1, Ordering::Relaxed);
        assert_eq!(env.shared::<AtomicUsize>().load(Ordering::Relaxed), 2);
        assert_eq!(*env.shared::<Mutex<String>>().lock().unwrap(), "");
        let other = StageEnv::new(".");
        assert_eq!(other.shared::<AtomicUsize>().load(Ordering::Relaxed), 0);
    }
}

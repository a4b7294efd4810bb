//! The sharded executor: runs a loaded pipeline over its shards in parallel, phase by phase,
//! with per-shard atomic outputs and completion markers so that rerunning the same command
//! after a crash resumes where it stopped and gives byte-identical output.
//!
//! Layout of `OUT/`:
//! - `curated/part-NNNNN.parquet`: kept documents of shard NNNNN (a Parquet dataset).
//! - `curated-jsonl/part-NNNNN.jsonl`: the same as JSON lines, if `output.jsonl = true`.
//! - `rejected/phaseK-part-NNNNN.parquet`: dropped and quarantined documents with reasons.
//! - `stats.json`: merged per-stage statistics, written when the run completes.
//! - `work/run.json`: the run's fingerprint (config + input files); a different config or
//!   changed input on the same `OUT` is refused instead of mixing two runs.
//! - `work/phase-K/done-NNNNN.json`: shard NNNNN finished phase K (its stats).
//! - `work/phase-K/part-NNNNN.parquet`: rows passed from phase K to K+1 across a barrier.
//! - `work/barrier-K/`: the barrier's own files; `work/phase-K/resolved` once it resolved.
//! - `work/complete.json`: the run finished.

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, RecordBatch};
use arrow::compute::filter_record_batch;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::LoadedPipeline;
use crate::document::text_bytes;
use crate::error::PipelineError;
use crate::lock::{RunLock, LOCK_FILE};
use crate::progress::Progress;
use crate::reader::{
    display_path, open_shard, plan_shards, DocSource, ReadChunk, ReadLimits, ShardSpec,
};
use crate::stage::{Barrier, Stage, StageContext, StageKind};
use crate::stats::{RunStats, ShardStats, StageStats};
use crate::writer::{JsonlSink, ParquetSink, PendingFiles, RejectSink};

/// Options of one invocation (not part of the run's identity: any value gives the same output).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub workers: Option<usize>,
    /// Override of `output.dir`.
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug)]
pub struct RunSummary {
    pub out_dir: PathBuf,
    pub stats: RunStats,
    /// Shards processed by this invocation (all phases), as opposed to found done.
    pub shards_processed: usize,
    pub already_complete: bool,
    pub wall_seconds: f64,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct RunIdentity {
    fingerprint: String,
    shards: usize,
    phases: usize,
}

/// A run's stages split at barriers: phase K ends with barrier K (except the last phase).
struct Phase<'a> {
    index: usize,
    /// (position in the run, stage) — position 0 is the reader.
    stages: Vec<(usize, &'a dyn Stage)>,
    /// The barrier ending this phase, with its position.
    barrier: Option<(usize, &'a dyn Barrier)>,
}

pub struct Executor<'a> {
    pipeline: &'a LoadedPipeline,
    out: PathBuf,
    workers: usize,
    shards: Vec<ShardSpec>,
    phases: Vec<Phase<'a>>,
    /// Test hook: sleep this long after each shard (makes crash tests deterministic).
    shard_delay: Option<std::time::Duration>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |e| PipelineError::io(path, e)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    crate::durable::write_atomic(path, bytes).map_err(io(path))
}

/// Size, modification time (ns) and inode of `path`: any edit, replacement or `touch` of an
/// input changes it.
fn file_stamp(path: &Path) -> Result<[u8; 32], PipelineError> {
    let m = std::fs::metadata(path).map_err(io(path))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&m.len().to_le_bytes());
    out[8..24].copy_from_slice(&mtime.to_le_bytes());
    out[24..].copy_from_slice(&inode.to_le_bytes());
    Ok(out)
}

/// xxh3-128 of a file's contents, streamed.
fn content_hash(path: &Path) -> Result<u128, PipelineError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(h.digest128());
        }
        h.update(&buf[..n]);
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, PipelineError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| PipelineError::OutputState {
        dir: path.to_path_buf(),
        message: format!("cannot parse: {e}; delete the output dir to start over"),
    })
}

fn remove_tmp_files(dir: &Path) -> Result<(), PipelineError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e.map_err(io(dir))?;
        let p = e.path();
        if e.file_type().map_err(io(&p))?.is_dir() {
            remove_tmp_files(&p)?;
        } else if p.extension().is_some_and(|x| x == "tmp") {
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    Ok(())
}

impl<'a> Executor<'a> {
    pub fn new(pipeline: &'a LoadedPipeline, opts: &RunOptions) -> Result<Self, PipelineError> {
        let out = match &opts.out_dir {
            Some(d) => d.clone(),
            None => pipeline.resolve(&pipeline.config.output.dir),
        };
        let workers = opts
            .workers
            .or(pipeline.config.run.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if workers == 0 {
            return Err(PipelineError::Config {
                path: pipeline.config_path.clone(),
                message: "--workers must be at least 1".into(),
            });
        }
        let shards = plan_shards(pipeline)?;
        let mut phases = vec![Phase {
            index: 0,
            stages: vec![],
            barrier: None,
        }];
        for (i, s) in pipeline.stages.iter().enumerate() {
            let pos = i + 1;
            let cur = phases.last_mut().expect("one phase at least");
            match s {
                StageKind::Stream(s) => cur.stages.push((pos, s.as_ref())),
                StageKind::Barrier(b) => {
                    cur.barrier = Some((pos, b.as_ref()));
                    let index = phases.len();
                    phases.push(Phase {
                        index,
                        stages: vec![],
                        barrier: None,
                    });
                }
            }
        }
        let shard_delay = std::env::var("SLUICE_TEST_SHARD_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis);
        Ok(Executor {
            pipeline,
            out,
            workers,
            shards,
            phases,
            shard_delay,
        })
    }

    pub fn out_dir(&self) -> &Path {
        &self.out
    }

    pub fn shards(&self) -> &[ShardSpec] {
        &self.shards
    }

    fn stage_names(&self) -> Vec<String> {
        std::iter::once("read".to_string())
            .chain(self.pipeline.stages.iter().map(|s| s.name().to_string()))
            .collect()
    }

    fn work(&self) -> PathBuf {
        self.out.join("work")
    }

    fn phase_dir(&self, phase: usize) -> PathBuf {
        self.work().join(format!("phase-{phase}"))
    }

    fn barrier_dir(&self, phase: usize) -> PathBuf {
        self.work().join(format!("barrier-{phase}"))
    }

    fn done_marker(&self, phase: usize, shard: usize) -> PathBuf {
        self.phase_dir(phase).join(format!("done-{shard:05}.json"))
    }

    fn intermediate(&self, phase: usize, shard: usize) -> PathBuf {
        self.phase_dir(phase)
            .join(format!("part-{shard:05}.parquet"))
    }

    /// Hash of what decides the output: the config (less the output dir), the input files'
    /// size, modification time and inode (reading hundreds of GB on every resume would cost
    /// more than the run), and the contents of every file a stage or the tokenizer reads.
    fn identity(&self) -> Result<RunIdentity, PipelineError> {
        let mut cfg = self.pipeline.config.clone();
        cfg.output.dir = PathBuf::new();
        cfg.run.workers = None;
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(
            serde_json::to_string(&cfg)
                .expect("config serializes")
                .as_bytes(),
        );
        for s in &self.shards {
            for f in &s.files {
                h.update(display_path(f, &self.pipeline.base_dir).as_bytes());
                h.update(&file_stamp(f)?);
            }
        }
        for f in &self.pipeline.referenced_files {
            h.update(display_path(f, &self.pipeline.base_dir).as_bytes());
            h.update(&content_hash(f)?.to_le_bytes());
        }
        Ok(RunIdentity {
            fingerprint: format!("{:032x}", h.digest128()),
            shards: self.shards.len(),
            phases: self.phases.len(),
        })
    }

    /// Checks that `OUT` is empty or holds this same run; records the run if new.
    fn claim_output(&self) -> Result<(), PipelineError> {
        let ident = self.identity()?;
        let run_file = self.work().join("run.json");
        if run_file.exists() {
            let found: RunIdentity = read_json(&run_file)?;
            if found != ident {
                return Err(PipelineError::OutputState {
                    dir: self.out.clone(),
                    message: "holds a run of a different config or different input files; \
                              use a new output dir (or delete this one to start over)"
                        .into(),
                });
            }
            return Ok(());
        }
        let foreign: Vec<_> = std::fs::read_dir(&self.out)
            .map_err(io(&self.out))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n != LOCK_FILE)
            .collect();
        if !foreign.is_empty() {
            return Err(PipelineError::OutputState {
                dir: self.out.clone(),
                message: format!(
                    "is not empty ({} entries) and holds no sluice run; choose a new or empty output dir",
                    foreign.len()
                ),
            });
        }
        write_atomic(
            &run_file,
            &serde_json::to_vec_pretty(&ident).expect("serializes"),
        )
    }

    /// Runs (or resumes) the pipeline to completion.
    pub fn run(&self) -> Result<RunSummary, PipelineError> {
        self.run_with(&|_, _| Ok(()))
    }

    /// Like [`run`](Self::run), with `finish(out_dir, workers)` called after curation, under
    /// the run's lock and before the run is marked complete (the tokenize phase uses it): if
    /// it fails or the process dies in it, the next run calls it again.
    pub fn run_with(
        &self,
        finish: &dyn Fn(&Path, usize) -> Result<(), PipelineError>,
    ) -> Result<RunSummary, PipelineError> {
        let started = Instant::now();
        let _lock = RunLock::acquire(&self.out)?;
        self.claim_output()?;
        let complete = self.work().join("complete.json");
        if complete.exists() {
            let stats: RunStats = read_json(&self.out.join("stats.json"))?;
            tracing::info!(out = %self.out.display(), "run already complete; nothing to do");
            return Ok(RunSummary {
                out_dir: self.out.clone(),
                stats,
                shards_processed: 0,
                already_complete: true,
                wall_seconds: started.elapsed().as_secs_f64(),
            });
        }
        for d in ["curated", "curated-jsonl", "rejected", "work"] {
            remove_tmp_files(&self.out.join(d))?;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.workers)
            .build()
            .map_err(|e| PipelineError::OutputState {
                dir: self.out.clone(),
                message: format!("cannot start {} worker threads: {e}", self.workers),
            })?;
        let mut processed = 0;
        let mut all_stats = Vec::new();
        for phase in &self.phases {
            let pending: Vec<&ShardSpec> = self
                .shards
                .iter()
                .filter(|s| !self.done_marker(phase.index, s.index).exists())
                .collect();
            let progress = Progress::new(
                &format!("phase {}/{}", phase.index + 1, self.phases.len()),
                self.shards.len(),
                self.shards.len() - pending.len(),
            );
            let results: Vec<Result<(), PipelineError>> = pool.install(|| {
                pending
                    .par_iter()
                    .map(|spec| {
                        let stats = self.run_shard(phase, spec)?;
                        progress.shard_done(spec.index, &stats);
                        Ok(())
                    })
                    .collect()
            });
            progress.finish();
            results.into_iter().collect::<Result<Vec<()>, _>>()?;
            processed += pending.len();
            if let Some((pos, barrier)) = phase.barrier {
                let resolved = self.phase_dir(phase.index).join("resolved");
                if !resolved.exists() {
                    tracing::info!(stage = barrier.name(), "resolving barrier");
                    let dir = self.barrier_dir(phase.index);
                    barrier
                        .resolve(&dir, self.shards.len(), self.workers)
                        .map_err(|source| PipelineError::Stage {
                            stage: format!("{} (stage {pos})", barrier.name()),
                            shard: 0,
                            source,
                        })?;
                    write_atomic(&resolved, b"")?;
                }
            }
            for s in &self.shards {
                all_stats.push(read_json::<ShardStats>(
                    &self.done_marker(phase.index, s.index),
                )?);
            }
        }
        let stats = RunStats::merge(&self.stage_names(), self.phases.len(), &all_stats);
        write_atomic(
            &self.out.join("stats.json"),
            &serde_json::to_vec_pretty(&stats).expect("serializes"),
        )?;
        finish(&self.out, self.workers)?;
        write_atomic(&complete, b"{}")?;
        self.remove_intermediates();
        Ok(RunSummary {
            out_dir: self.out.clone(),
            stats,
            shards_processed: processed,
            already_complete: false,
            wall_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Rows handed across barriers are not needed once the run is complete.
    fn remove_intermediates(&self) {
        for phase in &self.phases {
            let _ = std::fs::remove_dir_all(self.barrier_dir(phase.index));
            for s in &self.shards {
                let _ = std::fs::remove_file(self.intermediate(phase.index, s.index));
            }
        }
    }

    fn stage_error(
        &self,
        stage: &str,
        shard: usize,
    ) -> impl FnOnce(crate::error::StageError) -> PipelineError + '_ {
        let stage = stage.to_string();
        move |source| PipelineError::Stage {
            stage,
            shard,
            source,
        }
    }

    /// Processes one shard through one phase and writes its outputs and marker.
    fn run_shard(&self, phase: &Phase<'_>, spec: &ShardSpec) -> Result<ShardStats, PipelineError> {
        let shard = spec.index;
        let config = &self.pipeline.config;
        let last = phase.index + 1 == self.phases.len();
        let mut source: Box<dyn DocSource> = if phase.index == 0 {
            open_shard(
                spec,
                &config.inputs[spec.input],
                &self.pipeline.base_dir,
                ReadLimits {
                    batch_size: config.run.batch_size,
                    max_record_bytes: config.run.max_record_bytes,
                },
            )
        } else {
            Box::new(IntermediateSource::open(
                self.intermediate(phase.index - 1, shard),
                config.run.batch_size,
            )?)
        };
        // The applier of the barrier that ended the previous phase runs first.
        let applier: Option<(usize, Box<dyn Stage>)> = match phase.index {
            0 => None,
            k => {
                let (pos, barrier) = self.phases[k - 1].barrier.expect("phase ends at a barrier");
                let a = barrier
                    .applier(shard, &self.barrier_dir(k - 1))
                    .map_err(self.stage_error(barrier.name(), shard))?;
                Some((pos, a))
            }
        };
        let mut chain: Vec<(usize, &dyn Stage)> = Vec::new();
        if let Some((pos, a)) = &applier {
            chain.push((*pos, a.as_ref()));
        }
        chain.extend(phase.stages.iter().copied());

        let mut stats = ShardStats {
            phase: phase.index,
            shard,
            ..Default::default()
        };
        let mut read_stats = StageStats::named("read");
        let mut chain_stats: Vec<StageStats> = chain
            .iter()
            .map(|(_, s)| StageStats::named(s.name()))
            .collect();
        let mut offsets = vec![0u64; chain.len()];
        let mut ctx = StageContext::new(shard);

        let mut pending = PendingFiles::default();
        let mut rejects = RejectSink::new(config.output.rejected.then(|| {
            self.out
                .join("rejected")
                .join(format!("phase{}-part-{shard:05}.parquet", phase.index))
        }));
        let (mut out, mut jsonl) = if last {
            let name = format!("part-{shard:05}");
            (
                ParquetSink::new(self.out.join("curated").join(format!("{name}.parquet"))),
                config.output.jsonl.then(|| {
                    JsonlSink::new(self.out.join("curated-jsonl").join(format!("{name}.jsonl")))
                }),
            )
        } else {
            (
                ParquetSink::new(self.intermediate(phase.index, shard)),
                None,
            )
        };
        let mut observer = match phase.barrier {
            Some((_, b)) => Some(
                b.observer(shard, &self.barrier_dir(phase.index))
                    .map_err(self.stage_error(b.name(), shard))?,
            ),
            None => None,
        };

        loop {
            let t = Instant::now();
            let Some(ReadChunk {
                docs,
                bad,
                records,
                bytes,
                repairs,
            }) = source.next_chunk()?
            else {
                break;
            };
            if phase.index == 0 {
                read_stats.seconds += t.elapsed().as_secs_f64();
                read_stats.docs_in += records;
                read_stats.docs_out += docs.num_rows() as u64;
                read_stats.bytes_in += bytes;
                read_stats.bytes_out += text_bytes(&docs);
                for q in &bad {
                    *read_stats.rejects.entry(q.reason.to_string()).or_default() += 1;
                }
                for (name, n) in repairs.counters() {
                    if n > 0 {
                        *read_stats.counters.entry(name.to_string()).or_default() += n;
                    }
                }
                if config.run.strict {
                    if let Some(q) = bad.first() {
                        return Err(PipelineError::StrictInput {
                            detail: format!("{}: {}", q.reason, q.detail),
                        });
                    }
                }
                rejects.quarantine(&bad)?;
            }
            let mut batch = docs;
            for (i, (_, stage)) in chain.iter().enumerate() {
                let n = batch.num_rows();
                if n == 0 {
                    break;
                }
                let t = Instant::now();
                let st = &mut chain_stats[i];
                st.docs_in += n as u64;
                st.bytes_in += text_bytes(&batch);
                ctx.row_offset = offsets[i];
                offsets[i] += n as u64;
                let res = stage
                    .process(batch, &mut ctx)
                    .map_err(self.stage_error(stage.name(), shard))?;
                if res.keep.len() != res.batch.num_rows() || res.batch.num_rows() != n {
                    return Err(PipelineError::Stage {
                        stage: stage.name().to_string(),
                        shard,
                        source: crate::error::StageError::Other(format!(
                            "returned {} rows and {} decisions for {n} input rows",
                            res.batch.num_rows(),
                            res.keep.len()
                        )),
                    });
                }
                for (k, v) in ctx.take_counters() {
                    *st.counters.entry(k).or_default() += v;
                }
                if res.kept() < n {
                    for r in 0..n {
                        if !res.keep.value(r) {
                            let reason = if res.reason.is_null(r) {
                                "unspecified"
                            } else {
                                res.reason.value(r)
                            };
                            *st.rejects.entry(reason.to_string()).or_default() += 1;
                        }
                    }
                    rejects.stage_rejects(stage.name(), &res)?;
                    batch = filter_record_batch(&res.batch, &res.keep).map_err(|source| {
                        PipelineError::Arrow {
                            path: self.out.clone(),
                            source,
                        }
                    })?;
                } else {
                    batch = res.batch;
                }
                st.docs_out += batch.num_rows() as u64;
                st.bytes_out += text_bytes(&batch);
                st.seconds += t.elapsed().as_secs_f64();
            }
            if batch.num_rows() == 0 {
                continue;
            }
            if let Some(obs) = observer.as_mut() {
                obs.observe(&batch, out.rows()).map_err(self.stage_error(
                    phase.barrier.expect("observer implies barrier").1.name(),
                    shard,
                ))?;
            }
            stats.output_docs += batch.num_rows() as u64;
            stats.output_bytes += text_bytes(&batch);
            out.write(&batch)?;
            if let Some(j) = jsonl.as_mut() {
                j.write(&batch)?;
            }
        }
        if let Some(obs) = observer {
            obs.finish()
                .map_err(self.stage_error(phase.barrier.expect("barrier").1.name(), shard))?;
        }
        out.finish(&mut pending)?;
        if let Some(j) = jsonl {
            j.finish(&mut pending)?;
        }
        rejects.finish(&mut pending)?;
        pending.commit()?;

        if phase.index == 0 {
            stats.stages.insert(0, read_stats);
        }
        for ((pos, _), st) in chain.iter().zip(chain_stats) {
            stats.stages.insert(*pos, st);
        }
        write_atomic(
            &self.done_marker(phase.index, shard),
            &serde_json::to_vec(&stats).expect("serializes"),
        )?;
        if let Some(d) = self.shard_delay {
            std::thread::sleep(d);
        }
        Ok(stats)
    }
}

/// Reads back the rows a shard passed across a barrier.
struct IntermediateSource {
    reader: Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>,
    path: PathBuf,
}

impl IntermediateSource {
    fn open(path: PathBuf, batch_size: usize) -> Result<Self, PipelineError> {
        if !path.exists() {
            // The shard had no rows left at the barrier.
            return Ok(IntermediateSource { reader: None, path });
        }
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let pq = |source| PipelineError::Parquet {
            path: path.clone(),
            source,
        };
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(pq)?
            .with_batch_size(batch_size)
            .build()
            .map_err(|source| PipelineError::Parquet {
                path: path.clone(),
                source,
            })?;
        Ok(IntermediateSource {
            reader: Some(reader),
            path,
        })
    }
}

impl DocSource for IntermediateSource {
    fn next_chunk(&mut self) -> Result<Option<ReadChunk>, PipelineError> {
        let Some(r) = self.reader.as_mut() else {
            return Ok(None);
        };
        match r.next() {
            None => Ok(None),
            Some(Err(e)) => Err(PipelineError::Arrow {
                path: self.path.clone(),
                source: e,
            }),
            Some(Ok(docs)) => Ok(Some(ReadChunk {
                records: docs.num_rows() as u64,
                bytes: text_bytes(&docs),
                docs: docs as RecordBatch,
                bad: vec![],
                repairs: Default::default(),
            })),
        }
    }
}

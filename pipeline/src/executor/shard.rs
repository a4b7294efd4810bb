//! One shard through one phase: the reading end (reader or the rows handed across the last
//! barrier, then that barrier's applier), the phase's stages on each batch, and the writing
//! end (curated or intermediate Parquet, JSONL, rejects, the next barrier's observer, stats).
//!
//! Batches go through the stages one after another on a worker, or, for a `wide` shard (a big
//! compressed file that cannot be cut), are read on one thread while every worker runs the
//! stages on a wave of batches; either way they are written in input order, so the output is
//! the same.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::Instant;

use arrow::array::{Array, RecordBatch};
use arrow::compute::filter_record_batch;
use rayon::prelude::*;

use super::{Executor, Phase};
use crate::document::text_bytes;
use crate::error::{PipelineError, StageError};
use crate::progress::{Progress, Unit};
use crate::reader::{open_shard, DocSource, Quarantined, ReadChunk, ReadLimits, ShardSpec};
use crate::stage::{BarrierObserver, Stage, StageContext, StageOutput};
use crate::stats::{ShardStats, StageStats};
use crate::writer::{JsonlSink, ParquetSink, PartSink, PendingFiles, RejectSink};

/// What one input batch produced, written to the shard's outputs in input order.
#[derive(Default)]
pub(super) struct Processed {
    bad: Vec<Quarantined>,
    /// (stage name, its output) for each stage that dropped rows, in chain order.
    rejected: Vec<(String, StageOutput)>,
    /// Stats for this batch by position in the run (0 = the reader).
    stats: Vec<(usize, StageStats)>,
    /// The rows still alive, if any.
    batch: Option<RecordBatch>,
    /// Index within the shard's input to this phase of the batch's first row.
    row_offset: u64,
}

fn stage_error(stage: &str, shard: usize) -> impl FnOnce(StageError) -> PipelineError {
    let stage = stage.to_string();
    move |source| PipelineError::Stage {
        stage,
        shard,
        source,
    }
}

/// Runs `stage` (at run position `pos`) on `batch`, records its stats and rejects in `out`,
/// and returns the rows it kept.
fn apply(
    (pos, stage): (usize, &dyn Stage),
    batch: RecordBatch,
    shard: usize,
    out: &mut Processed,
) -> Result<RecordBatch, PipelineError> {
    let t = Instant::now();
    let n = batch.num_rows();
    let mut st = StageStats::named(stage.name());
    st.docs_in = n as u64;
    st.bytes_in = text_bytes(&batch);
    let mut ctx = StageContext::new(shard);
    ctx.row_offset = out.row_offset;
    // A bug in a stage fails the run with the stage and shard named (and the files of the
    // shard left uncommitted), instead of a backtrace from a worker thread.
    let run = std::panic::AssertUnwindSafe(|| stage.process(batch, &mut ctx));
    let res = std::panic::catch_unwind(run)
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(StageError::Internal(format!(
                "panicked on rows {}..: {msg}",
                out.row_offset
            )))
        })
        .map_err(stage_error(stage.name(), shard))?;
    if res.keep.len() != res.batch.num_rows() || res.batch.num_rows() != n {
        return Err(PipelineError::Stage {
            stage: stage.name().to_string(),
            shard,
            source: StageError::Internal(format!(
                "returned {} rows and {} decisions for {n} input rows",
                res.batch.num_rows(),
                res.keep.len()
            )),
        });
    }
    st.counters = ctx.take_counters();
    let kept = if res.kept() < n {
        for r in (0..n).filter(|&r| !res.keep.value(r)) {
            let reason = match res.reason.is_null(r) {
                true => "unspecified",
                false => res.reason.value(r),
            };
            *st.rejects.entry(reason.to_string()).or_default() += 1;
        }
        let kept =
            filter_record_batch(&res.batch, &res.keep).map_err(|e| PipelineError::Stage {
                stage: stage.name().to_string(),
                shard,
                source: StageError::Internal(format!("cannot filter the batch: {e}")),
            })?;
        out.rejected.push((stage.name().to_string(), res));
        kept
    } else {
        res.batch
    };
    st.docs_out = kept.num_rows() as u64;
    st.bytes_out = text_bytes(&kept);
    st.seconds = t.elapsed().as_secs_f64();
    out.stats.push((pos, st));
    Ok(kept)
}

/// Runs `stages` on the batch in `p`, in order, until no row is left.
fn run_stages(
    stages: &[(usize, &dyn Stage)],
    mut p: Processed,
    shard: usize,
) -> Result<Processed, PipelineError> {
    let Some(mut batch) = p.batch.take() else {
        return Ok(p);
    };
    for &stage in stages {
        if batch.num_rows() == 0 {
            break;
        }
        batch = apply(stage, batch, shard, &mut p)?;
    }
    p.batch = (batch.num_rows() > 0).then_some(batch);
    Ok(p)
}

/// An applier of an earlier barrier run again on rows read from before it (a phase that
/// [passes through](Executor::passes_through) writes none): its stats and rejects were
/// recorded by that phase, so here it only drops the same rows.
struct Replay {
    pos: usize,
    stage: Box<dyn Stage>,
    /// Rows it has seen: the row offset of the next batch in its own numbering.
    rows: u64,
}

/// The reading end of a shard: its source, the appliers it replays and the previous
/// barrier's applier.
pub(super) struct ShardInput<'p> {
    source: Box<dyn DocSource>,
    replay: Vec<Replay>,
    applier: Option<(usize, Box<dyn Stage>)>,
    first_phase: bool,
    strict: bool,
    shard: usize,
    rows: u64,
    progress: &'p Progress,
    /// Input bytes already reported to `progress`.
    reported: u64,
}

impl ShardInput<'_> {
    /// The next batch read (and passed through the applier), or `None` at the end.
    fn next(&mut self) -> Result<Option<Processed>, PipelineError> {
        let t = Instant::now();
        let Some(ReadChunk {
            docs,
            bad,
            records,
            bytes,
            repairs,
        }) = self.source.next_chunk()?
        else {
            return Ok(None);
        };
        let docs = self.replay(docs)?;
        let mut p = Processed {
            row_offset: self.rows,
            ..Default::default()
        };
        self.rows += docs.num_rows() as u64;
        if self.first_phase {
            let consumed = self.source.consumed();
            self.progress
                .advance(consumed.saturating_sub(self.reported), records);
            self.reported = self.reported.max(consumed);
            if self.strict {
                if let Some(q) = bad.first() {
                    return Err(PipelineError::StrictInput {
                        detail: format!("{}: {}", q.reason, q.detail),
                    });
                }
            }
            let mut st = StageStats::named("read");
            st.seconds = t.elapsed().as_secs_f64();
            (st.docs_in, st.docs_out) = (records, docs.num_rows() as u64);
            (st.bytes_in, st.bytes_out) = (bytes, text_bytes(&docs));
            for q in &bad {
                *st.rejects.entry(q.reason.to_string()).or_default() += 1;
            }
            for (name, n) in repairs.counters().into_iter().filter(|(_, n)| *n > 0) {
                st.counters.insert(name, n);
            }
            p.stats.push((0, st));
            p.bad = bad;
        } else {
            let rows = docs.num_rows() as u64;
            self.progress.advance(rows, rows);
        }
        p.batch = Some(docs);
        match &self.applier {
            Some((pos, a)) => run_stages(&[(*pos, a.as_ref())], p, self.shard).map(Some),
            None => Ok(Some(p)),
        }
    }

    /// `docs` through the replayed appliers, in order; what they drop is counted and
    /// quarantined nowhere, having been once already.
    fn replay(&mut self, mut docs: RecordBatch) -> Result<RecordBatch, PipelineError> {
        for r in &mut self.replay {
            if docs.num_rows() == 0 {
                break;
            }
            let mut seen = Processed {
                row_offset: r.rows,
                ..Default::default()
            };
            r.rows += docs.num_rows() as u64;
            docs = apply((r.pos, r.stage.as_ref()), docs, self.shard, &mut seen)?;
        }
        Ok(docs)
    }

    /// Reports the input bytes the reader did not count as consumed (the shard is done).
    fn finish(&self, spec: &ShardSpec) {
        if self.first_phase {
            self.progress
                .advance(spec.size.saturating_sub(self.reported), 0);
        }
    }
}

/// The writing end of a shard; every file appears atomically at [`finish`](Self::finish).
pub(super) struct ShardSink {
    /// None in a phase that passes through.
    out: Option<ParquetSink>,
    jsonl: Option<JsonlSink>,
    /// The finish step's share of this shard (last phase only).
    part: Option<PartSink>,
    rejects: RejectSink,
    observer: Option<(String, Box<dyn BarrierObserver>)>,
    stats: BTreeMap<usize, StageStats>,
    shard: usize,
    phase: usize,
    output_docs: u64,
    output_bytes: u64,
}

impl ShardSink {
    fn write(&mut self, p: Processed) -> Result<(), PipelineError> {
        self.rejects.quarantine(&p.bad)?;
        for (stage, res) in &p.rejected {
            self.rejects.stage_rejects(stage, res)?;
        }
        for (pos, st) in p.stats {
            self.stats
                .entry(pos)
                .or_insert_with(|| StageStats::named(&st.name))
                .merge(&st);
        }
        let Some(batch) = p.batch else {
            return Ok(());
        };
        if let Some((name, obs)) = self.observer.as_mut() {
            obs.observe(&batch, self.output_docs)
                .map_err(stage_error(name, self.shard))?;
        }
        self.output_docs += batch.num_rows() as u64;
        self.output_bytes += text_bytes(&batch);
        if let Some(out) = self.out.as_mut() {
            out.write(&batch)?;
        }
        if let Some(j) = self.jsonl.as_mut() {
            j.write(&batch)?;
        }
        if let Some(part) = self.part.as_mut() {
            let err = stage_error(part.step(), self.shard);
            part.write(&batch).map_err(err)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<ShardStats, PipelineError> {
        if let Some((name, obs)) = self.observer {
            obs.finish().map_err(stage_error(&name, self.shard))?;
        }
        let mut pending = PendingFiles::default();
        if let Some(out) = self.out {
            out.finish(&mut pending)?;
        }
        if let Some(j) = self.jsonl {
            j.finish(&mut pending)?;
        }
        if let Some(part) = self.part {
            let err = stage_error(part.step(), self.shard);
            part.finish(&mut pending).map_err(err)?;
        }
        self.rejects.finish(&mut pending)?;
        pending.commit()?;
        Ok(ShardStats {
            phase: self.phase,
            shard: self.shard,
            stages: self.stats,
            output_docs: self.output_docs,
            output_bytes: self.output_bytes,
        })
    }
}

impl Executor<'_> {
    /// Opens the reading end of `spec` in `phase`.
    pub(super) fn shard_input<'p>(
        &self,
        phase: &Phase<'_>,
        spec: &ShardSpec,
        progress: &'p Progress,
    ) -> Result<ShardInput<'p>, PipelineError> {
        let (shard, run) = (spec.index, &self.pipeline.config.run);
        let limits = ReadLimits {
            batch_size: run.batch_size,
            batch_bytes: run.batch_mb << 20,
            max_record_bytes: run.max_record_bytes,
        };
        let applier_of = |k: usize| -> Result<(usize, Box<dyn Stage>), PipelineError> {
            let (pos, barrier) = self.phases[k].barrier.expect("phase ends at a barrier");
            let a = barrier
                .applier(shard, &self.layout.barrier_dir(k))
                .map_err(stage_error(barrier.name(), shard))?;
            Ok((pos, a))
        };
        let (source, replay, applier): (Box<dyn DocSource>, _, _) = match phase.index {
            0 => {
                let input = &self.pipeline.config.inputs[spec.input];
                let src = open_shard(spec, input, &self.pipeline.base_dir, limits);
                (src, vec![], None)
            }
            k => {
                let from = self.source_phase(k);
                let path = self.layout.intermediate(from, shard);
                let src = Box::new(super::IntermediateSource::open(path, limits)?);
                let replay = (from..k - 1)
                    .map(|j| {
                        applier_of(j).map(|(pos, stage)| Replay {
                            pos,
                            stage,
                            rows: 0,
                        })
                    })
                    .collect::<Result<_, _>>()?;
                (src, replay, Some(applier_of(k - 1)?))
            }
        };
        Ok(ShardInput {
            source,
            replay,
            applier,
            first_phase: phase.index == 0,
            strict: run.strict,
            shard,
            rows: 0,
            progress,
            reported: 0,
        })
    }

    /// Opens the writing end of `shard` in `phase`.
    pub(super) fn shard_sink(
        &self,
        phase: &Phase<'_>,
        shard: usize,
    ) -> Result<ShardSink, PipelineError> {
        let (l, output) = (&self.layout, &self.pipeline.config.output);
        let last = phase.index + 1 == self.phases.len();
        let (out, jsonl) = match last {
            true => (
                Some(ParquetSink::new(l.curated(shard))),
                output.jsonl.then(|| JsonlSink::new(l.curated_jsonl(shard))),
            ),
            false if self.passes_through(phase.index) => (None, None),
            false => (
                Some(ParquetSink::intermediate(
                    l.intermediate(phase.index, shard),
                    self.pipeline.config.run.intermediates.unwrap_or_default(),
                )),
                None,
            ),
        };
        let finish = self.pipeline.finish.as_ref().filter(|_| last);
        let part = finish.and_then(|f| {
            let p = f.shard_part()?;
            Some(PartSink::new(f.name(), l.finish_part(shard), p))
        });
        let observer = match phase.barrier {
            Some((_, b)) => {
                let obs = b
                    .observer(shard, &l.barrier_dir(phase.index))
                    .map_err(stage_error(b.name(), shard))?;
                Some((b.name().to_string(), obs))
            }
            None => None,
        };
        let mut stats = BTreeMap::new();
        if phase.index == 0 {
            stats.insert(0, StageStats::named("read"));
        }
        if phase.index > 0 {
            let (pos, b) = self.phases[phase.index - 1].barrier.expect("barrier");
            stats.insert(pos, StageStats::named(b.name()));
        }
        for (pos, s) in &phase.stages {
            stats.insert(*pos, StageStats::named(s.name()));
        }
        let rejected: Option<PathBuf> = output.rejected.then(|| l.rejected(phase.index, shard));
        Ok(ShardSink {
            out,
            jsonl,
            part,
            rejects: RejectSink::new(rejected),
            observer,
            stats,
            shard,
            phase: phase.index,
            output_docs: 0,
            output_bytes: 0,
        })
    }

    /// Processes one shard through one phase and writes its outputs and marker. `wide`: the
    /// pool whose workers all process this shard's batches.
    pub(super) fn run_shard(
        &self,
        phase: &Phase<'_>,
        spec: &ShardSpec,
        wide: Option<&rayon::ThreadPool>,
        progress: &Progress,
    ) -> Result<ShardStats, PipelineError> {
        let shard = spec.index;
        let mut input = self.shard_input(phase, spec, progress)?;
        let mut sink = self.shard_sink(phase, shard)?;
        match wide {
            None => {
                while let Some(p) = input.next()? {
                    sink.write(run_stages(&phase.stages, p, shard)?)?;
                }
            }
            Some(pool) => self.run_wide(phase, &mut input, &mut sink, pool)?,
        }
        input.finish(spec);
        let stats = sink.finish()?;
        super::write_atomic(
            &self.layout.done_marker(phase.index, shard),
            &serde_json::to_vec(&stats).expect("serializes"),
        )?;
        progress.shard_done();
        if let Some(d) = self.shard_delay {
            std::thread::sleep(d);
        }
        Ok(stats)
    }

    /// Reads the shard on its own thread; every worker runs the stages on a wave of up to
    /// `workers` batches, which are then written in order.
    fn run_wide(
        &self,
        phase: &Phase<'_>,
        input: &mut ShardInput<'_>,
        sink: &mut ShardSink,
        pool: &rayon::ThreadPool,
    ) -> Result<(), PipelineError> {
        let lanes = self.workers;
        let shard = sink.shard;
        std::thread::scope(|scope| {
            // Dropping `rx` on any early return ends the reader at its next send.
            let (tx, rx) = sync_channel::<Result<Processed, PipelineError>>(lanes);
            scope.spawn(move || loop {
                let item = input.next().transpose();
                let stop = !matches!(item, Some(Ok(_)));
                if let Some(item) = item {
                    if tx.send(item).is_err() {
                        return;
                    }
                }
                if stop {
                    return;
                }
            });
            loop {
                let (wave, failed) = next_wave(&rx, lanes);
                if wave.is_empty() && failed.is_none() {
                    return Ok(());
                }
                pool.install(|| -> Result<(), PipelineError> {
                    let done: Vec<_> = wave
                        .into_par_iter()
                        .map(|p| run_stages(&phase.stages, p, shard))
                        .collect();
                    for p in done {
                        sink.write(p?)?;
                    }
                    Ok(())
                })?;
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        })
    }
}

/// Up to `lanes` batches from the reader, and its error if it failed after them.
fn next_wave(
    rx: &Receiver<Result<Processed, PipelineError>>,
    lanes: usize,
) -> (Vec<Processed>, Option<PipelineError>) {
    let mut wave = Vec::with_capacity(lanes);
    while wave.len() < lanes {
        match rx.recv() {
            Ok(Ok(p)) => wave.push(p),
            Ok(Err(e)) => return (wave, Some(e)),
            Err(_) => break,
        }
    }
    (wave, None)
}

/// What a phase's progress counts, its total and what is already done.
pub(super) fn progress_units(
    exec: &Executor<'_>,
    shards: &[&ShardSpec],
    phase: usize,
    done: &dyn Fn(usize) -> bool,
) -> Result<(Unit, u64, u64), PipelineError> {
    if phase == 0 {
        let total = shards.iter().map(|s| s.size).sum();
        let done = shards
            .iter()
            .filter(|s| done(s.index))
            .map(|s| s.size)
            .sum();
        return Ok((Unit::Bytes, total, done));
    }
    let (mut total, mut finished) = (0, 0);
    for s in shards {
        let prev: ShardStats = super::read_json(&exec.layout.done_marker(phase - 1, s.index))?;
        total += prev.output_docs;
        if done(s.index) {
            finished += prev.output_docs;
        }
    }
    Ok((Unit::Docs, total, finished))
}

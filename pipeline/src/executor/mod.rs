//! The executor: runs a loaded pipeline over its shards, phase by phase, as a set of tasks
//! that each write atomically and leave a marker, so rerunning the same command after a crash
//! resumes where it stopped and gives byte-identical output, whatever the worker count.
//!
//! A run's [`Task`]s: each shard through each phase; the pieces of a barrier's resolve (its
//! partitions), then the rest of it (e.g. MinHash's union-find); the merged stats. This file
//! is the local scheduler of those tasks, on one thread pool; `shard.rs` runs one shard, and
//! [`OutputLayout`](crate::layout::OutputLayout) names every file under `OUT/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arrow::array::RecordBatch;
use rayon::prelude::*;
use serde::Deserialize;

use crate::config::LoadedPipeline;
use crate::document::text_bytes;
use crate::error::PipelineError;
use crate::error::StageError;
use crate::layout::OutputLayout;
use crate::lock::{RunLock, LOCK_FILE};
use crate::progress::Progress;
use crate::reader::{plan_shards, DocSource, ReadChunk, ReadLimits, ShardSpec};
use crate::stage::{Barrier, BarrierRun, RunGuard, Stage, StageKind};
use crate::stats::{RunStats, ShardStats};

mod identity;
mod ranks;
mod shard;

use identity::{run_identity, RunIdentity};
pub use ranks::Ranks;

/// Options of one invocation (not part of the run's identity: any value gives the same output).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub workers: Option<usize>,
    /// Override of `output.dir`.
    pub out_dir: Option<PathBuf>,
    /// This process's rank among the processes running the run (default: the only one).
    pub ranks: Ranks,
}

#[derive(Debug)]
pub struct RunSummary {
    pub out_dir: PathBuf,
    pub stats: RunStats,
    /// Shards processed by this invocation (all phases), as opposed to found done.
    pub shards_processed: usize,
    pub already_complete: bool,
    pub wall_seconds: f64,
    /// Which rank this was: only rank 0's summary holds the run's stats.
    pub ranks: Ranks,
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
    layout: OutputLayout,
    workers: usize,
    ranks: Ranks,
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

/// The steps of a phase, in order, for schedulers that chain them (`sluice task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This rank's shards of the phase.
    Shards,
    /// This rank's pieces of the barrier's resolve.
    ResolveParts,
    /// The rest of the resolve (one process).
    Resolve,
    /// After the last phase: stats, `[tokenize]`, the completion marker (one process).
    Finish,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::Shards,
        Step::ResolveParts,
        Step::Resolve,
        Step::Finish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Shards => "shards",
            Step::ResolveParts => "resolve-parts",
            Step::Resolve => "resolve",
            Step::Finish => "finish",
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Step::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown step '{s}': shards, resolve-parts, resolve or finish"))
    }
}

/// One unit of a run's work. Each writes its outputs atomically and leaves a marker, so
/// running one twice is harmless and a rerun skips what is done. [`Executor::run`] schedules
/// them on one machine's threads; any scheduler that runs a phase's tasks before the next
/// phase's, on machines that share `OUT`, gives the same output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Shard `shard` through phase `phase`.
    Shard { phase: usize, shard: usize },
    /// Piece `part` of the resolve of the barrier that ends phase `phase`.
    ResolvePart { phase: usize, part: usize },
    /// The rest of that resolve, once all its pieces are done.
    Resolve { phase: usize },
}

impl<'a> Executor<'a> {
    pub fn new(pipeline: &'a LoadedPipeline, opts: &RunOptions) -> Result<Self, PipelineError> {
        let named = opts.out_dir.as_ref().unwrap_or(&pipeline.config.output.dir);
        if store::Location::is_url(&named.to_string_lossy()) {
            return Err(PipelineError::Config {
                path: pipeline.config_path.clone(),
                message: format!(
                    "output {}: an object-storage output is written by `sluice run` alone (one process, staged in run.scratch); multi-process runs need a shared disk",
                    named.display()
                ),
            });
        }
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
        let shard_delay = std::env::var("SLUICE_TEST_SHARD_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis);
        Ok(Executor {
            pipeline,
            layout: OutputLayout::new(out),
            workers,
            ranks: opts.ranks,
            shards,
            phases: split_phases(&pipeline.stages),
            shard_delay,
        })
    }

    pub fn out_dir(&self) -> &Path {
        self.layout.root()
    }

    pub fn layout(&self) -> &OutputLayout {
        &self.layout
    }

    pub fn shards(&self) -> &[ShardSpec] {
        &self.shards
    }

    fn stage_names(&self) -> Vec<String> {
        std::iter::once("read".to_string())
            .chain(self.pipeline.stages.iter().map(|s| s.name().to_string()))
            .collect()
    }

    /// Every task of phase `phase`, in the order they may run: its shards, then (if the
    /// phase ends at a barrier) the resolve's pieces, then the resolve.
    pub fn phase_tasks(&self, phase: usize) -> Vec<Task> {
        let mut tasks: Vec<Task> = (0..self.shards.len())
            .map(|shard| Task::Shard { phase, shard })
            .collect();
        if let Some((_, b)) = self.phases[phase].barrier {
            tasks.extend((0..b.resolve_parts()).map(|part| Task::ResolvePart { phase, part }));
            tasks.push(Task::Resolve { phase });
        }
        tasks
    }

    /// Whether `task` left its marker.
    pub fn is_done(&self, task: Task) -> bool {
        match task {
            Task::Shard { phase, shard } => self.layout.done_marker(phase, shard).exists(),
            Task::ResolvePart { phase, part } => {
                self.layout.resolve_part_done(phase, part).exists()
                    || self.layout.resolved(phase).exists()
            }
            Task::Resolve { phase } => self.layout.resolved(phase).exists(),
        }
    }

    /// Checks that `OUT` is empty or holds this same run; records the run if new.
    fn claim_output(&self) -> Result<(), PipelineError> {
        let ident: RunIdentity = run_identity(self.pipeline, &self.shards, self.phases.len())?;
        let out = self.layout.root();
        let run_file = self.layout.run_file();
        if run_file.exists() {
            let found: RunIdentity = read_json(&run_file)?;
            if found != ident {
                return Err(PipelineError::OutputState {
                    dir: out.to_path_buf(),
                    message: "holds a run of a different config or different input files; \
                              use a new output dir (or delete this one to start over)"
                        .into(),
                });
            }
            return Ok(());
        }
        let foreign: Vec<_> = std::fs::read_dir(out)
            .map_err(io(out))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n != LOCK_FILE)
            .collect();
        if !foreign.is_empty() {
            return Err(PipelineError::OutputState {
                dir: out.to_path_buf(),
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
    /// Runs every unfinished task of this rank; rank 0 then merges the stats, runs the
    /// pipeline's finish step (tokenize) and marks the run complete.
    pub fn run(&self) -> Result<RunSummary, PipelineError> {
        let started = Instant::now();
        let out = self.layout.root().to_path_buf();
        let (rank, world) = (self.ranks.rank, self.ranks.world);
        // Only rank 0 locks (flock is per host on NFS: markers, not locks, keep ranks apart).
        let _lock = match rank {
            0 => Some(RunLock::acquire(&out)?),
            _ => None,
        };
        match rank {
            0 => self.claim_output()?,
            _ => self.await_claim()?,
        }
        if self.layout.complete().exists() {
            tracing::info!(out = %out.display(), "run already complete; nothing to do");
            return Ok(RunSummary {
                out_dir: out,
                stats: read_json(&self.layout.stats())?,
                shards_processed: 0,
                already_complete: true,
                wall_seconds: started.elapsed().as_secs_f64(),
                ranks: self.ranks,
            });
        }
        let _guards = match rank {
            0 => self.begin_barriers()?,
            _ => vec![],
        };
        // With other ranks at work, their temporary files are not leftovers: rank 0 sweeps
        // at the end instead.
        if world == 1 {
            self.sweep()?;
        }
        let beat = match world {
            1 => None,
            _ => Some(ranks::Heartbeat::start(&self.layout.ranks_dir(), rank)?),
        };
        let result = self.run_tasks();
        if let (Some(b), Err(e)) = (&beat, &result) {
            b.failed(&self.layout.ranks_dir(), rank, e);
        }
        let (stats, processed) = result?;
        Ok(RunSummary {
            out_dir: out,
            stats,
            shards_processed: processed,
            already_complete: false,
            wall_seconds: started.elapsed().as_secs_f64(),
            ranks: self.ranks,
        })
    }

    /// Who runs barrier `phase`'s stage, for its `begin` and `publish`.
    fn barrier_run(&self, phase: usize) -> Result<BarrierRun, PipelineError> {
        let ident = run_identity(self.pipeline, &self.shards, self.phases.len())?;
        let root = self.layout.root();
        Ok(BarrierRun {
            dir: self.layout.barrier_dir(phase),
            name: root.file_name().map_or_else(
                || root.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            fingerprint: ident.fingerprint().to_string(),
        })
    }

    /// Every barrier's [`begin`](Barrier::begin): locks on outside state, held by the caller.
    fn begin_barriers(&self) -> Result<Vec<RunGuard>, PipelineError> {
        let mut guards = vec![];
        for p in &self.phases {
            if let Some((pos, b)) = p.barrier {
                let run = self.barrier_run(p.index)?;
                std::fs::create_dir_all(&run.dir).map_err(io(&run.dir))?;
                let g = b
                    .begin(&run)
                    .map_err(|e| self.stage_error(pos, b.name(), e))?;
                guards.extend(g);
            }
        }
        Ok(guards)
    }

    /// Every barrier's [`publish`](Barrier::publish), in phase order.
    fn publish_barriers(&self) -> Result<(), PipelineError> {
        for p in &self.phases {
            if let Some((pos, b)) = p.barrier {
                let run = self.barrier_run(p.index)?;
                b.publish(&run)
                    .map_err(|e| self.stage_error(pos, b.name(), e))?;
            }
        }
        Ok(())
    }

    fn stage_error(&self, pos: usize, name: &str, source: StageError) -> PipelineError {
        PipelineError::Stage {
            stage: format!("{name} (stage {pos})"),
            shard: 0,
            source,
        }
    }

    fn sweep(&self) -> Result<(), PipelineError> {
        for d in self.layout.swept_dirs() {
            remove_tmp_files(&d)?;
        }
        Ok(())
    }

    /// A rank other than 0 waits for rank 0 to claim `OUT`, then checks it is the same run.
    fn await_claim(&self) -> Result<(), PipelineError> {
        let run_file = self.layout.run_file();
        ranks::Watch::new(&self.layout.ranks_dir()).wait(
            "rank 0 to claim the output dir",
            &|| match run_file.exists() {
                true => vec![],
                false => vec![0],
            },
        )?;
        if !self.holds_this_run()? {
            return Err(PipelineError::OutputState {
                dir: self.layout.root().to_path_buf(),
                message: format!(
                    "rank {} sees a different config or different input files than rank 0",
                    self.ranks.rank
                ),
            });
        }
        Ok(())
    }

    /// Whether `OUT` was claimed for this very run (same fingerprint).
    fn holds_this_run(&self) -> Result<bool, PipelineError> {
        let run_file = self.layout.run_file();
        if !run_file.exists() {
            return Ok(false);
        }
        let ident = run_identity(self.pipeline, &self.shards, self.phases.len())?;
        Ok(read_json::<RunIdentity>(&run_file)? == ident)
    }

    fn pool(&self) -> Result<rayon::ThreadPool, PipelineError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.workers)
            .build()
            .map_err(|e| {
                self.state_error(&format!(
                    "cannot start {} worker threads: {e}",
                    self.workers
                ))
            })
    }

    /// This rank's share of every phase, meeting the other ranks at each barrier; rank 0
    /// then merges the stats, runs the finish step and marks the run complete. Returns the stats
    /// (empty on other ranks) and how many shards this rank ran.
    fn run_tasks(&self) -> Result<(RunStats, usize), PipelineError> {
        let pool = self.pool()?;
        let mut processed = 0;
        for phase in &self.phases {
            processed += self.run_phase_shards(phase, &pool)?;
            if phase.barrier.is_some() {
                self.resolve_barrier(phase.index, &pool)?;
            }
        }
        if self.ranks.rank != 0 {
            return Ok((RunStats::default(), processed));
        }
        self.await_tasks(self.phases.len() - 1, |t| matches!(t, Task::Shard { .. }))?;
        let stats = self.complete_run(self.ranks.world > 1)?;
        Ok((stats, processed))
    }

    /// The last step, once every shard of the last phase is done: merged stats, the finish step,
    /// the completion marker; then (`sweep`: when other processes took part, whose temporary
    /// files were not leftovers at the start) the temporary files, and the intermediates.
    fn complete_run(&self, sweep: bool) -> Result<RunStats, PipelineError> {
        let stats = self.merge_stats()?;
        self.publish_barriers()?;
        if let Some(f) = &self.pipeline.finish {
            f.run(self.layout.root(), self.workers)
                .map_err(|message| PipelineError::Finish {
                    step: f.name().to_string(),
                    message,
                })?;
        }
        write_atomic(&self.layout.complete(), b"{}")?;
        if sweep {
            self.sweep()?;
        }
        self.remove_intermediates();
        Ok(stats)
    }

    /// Runs this rank's unfinished pieces of barrier `phase`'s resolve on every worker;
    /// returns how many ran.
    fn run_my_parts(&self, phase: usize, pool: &rayon::ThreadPool) -> Result<usize, PipelineError> {
        let mine: Vec<Task> = self
            .phase_tasks(phase)
            .into_iter()
            .filter(|t| matches!(t, Task::ResolvePart { .. }))
            .filter(|t| self.owner(*t) == self.ranks.rank && !self.is_done(*t))
            .collect();
        let results: Vec<_> = pool.install(|| mine.par_iter().map(|t| self.run_task(*t)).collect());
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(mine.len())
    }

    /// Waits until every task of `phase` that `which` selects left its marker (at once when
    /// this is the only rank: its own tasks are all there is).
    fn await_tasks(
        &self,
        phase: usize,
        which: impl Fn(&Task) -> bool,
    ) -> Result<(), PipelineError> {
        if self.ranks.world == 1 {
            return Ok(());
        }
        let tasks: Vec<Task> = self.phase_tasks(phase).into_iter().filter(which).collect();
        let pending = || {
            tasks
                .iter()
                .filter(|t| !self.is_done(**t))
                .map(|t| self.owner(*t))
                .collect()
        };
        ranks::Watch::new(&self.layout.ranks_dir()).wait(&format!("phase {}", phase + 1), &pending)
    }

    /// Claims `OUT` for this run (or checks that it holds this run) without running
    /// anything: a launcher that submits the steps to a scheduler calls it first.
    pub fn claim(&self) -> Result<(), PipelineError> {
        let _lock = RunLock::acquire(self.layout.root())?;
        self.claim_output()?;
        // Barriers pin their outside state now, for the steps that run on many processes.
        self.begin_barriers().map(drop)
    }

    /// Whether the run is complete.
    pub fn is_complete(&self) -> bool {
        self.layout.complete().exists()
    }

    /// The number of phases (one more than the barriers).
    pub fn phase_count(&self) -> usize {
        self.phases.len()
    }

    /// Whether phase `phase` ends at a barrier.
    pub fn has_barrier(&self, phase: usize) -> bool {
        self.phases[phase].barrier.is_some()
    }

    /// Runs this rank's part of one step, for schedulers that order the steps themselves
    /// (Slurm job arrays chained with `afterok`): nothing waits for other ranks, and a step
    /// whose inputs are not all there is refused. Returns how many tasks ran.
    pub fn run_step(&self, step: Step, phase: usize) -> Result<usize, PipelineError> {
        if !self.holds_this_run()? {
            return Err(self.state_error("does not hold this run (the launcher claims it first)"));
        }
        let Some(p) = self.phases.get(phase) else {
            return Err(self.state_error(&format!("has no phase {phase}")));
        };
        let all_done = |which: &dyn Fn(&Task) -> bool| {
            self.phase_tasks(phase)
                .into_iter()
                .filter(|t| which(t))
                .all(|t| self.is_done(t))
        };
        let shards = |t: &Task| matches!(t, Task::Shard { .. });
        let parts = |t: &Task| matches!(t, Task::ResolvePart { .. });
        let needs = |ok: bool, what: &str| match ok {
            true => Ok(()),
            false => Err(self.state_error(&format!("phase {phase}: {what} first"))),
        };
        let pool = self.pool()?;
        // The one-process steps hold the barriers' locks on outside state; the others (many
        // array tasks at once) only read what `claim` pinned.
        let _guards = match step {
            Step::Resolve | Step::Finish => self.begin_barriers()?,
            Step::Shards | Step::ResolveParts => vec![],
        };
        match step {
            Step::Shards => {
                needs(
                    phase == 0 || self.is_done(Task::Resolve { phase: phase - 1 }),
                    "the previous barrier must resolve",
                )?;
                self.run_phase_shards(p, &pool)
            }
            Step::ResolveParts | Step::Resolve if p.barrier.is_none() => {
                Err(self.state_error(&format!("phase {phase} ends at no barrier")))
            }
            Step::ResolveParts => {
                needs(all_done(&shards), "every shard must finish")?;
                self.run_my_parts(phase, &pool)
            }
            Step::Resolve => {
                needs(all_done(&parts), "every resolve piece must finish")?;
                self.run_task(Task::Resolve { phase })?;
                Ok(1)
            }
            Step::Finish => {
                needs(
                    phase + 1 == self.phases.len(),
                    "finish is a step of the last phase",
                )?;
                needs(all_done(&shards), "every shard must finish")?;
                if !self.is_complete() {
                    self.complete_run(true)?;
                }
                Ok(1)
            }
        }
    }

    fn state_error(&self, message: &str) -> PipelineError {
        PipelineError::OutputState {
            dir: self.layout.root().to_path_buf(),
            message: message.to_string(),
        }
    }

    /// The ranks (of this executor's world) that still have unfinished tasks in `step` of
    /// `phase`: a launcher submits only those.
    pub fn ranks_with_work(&self, step: Step, phase: usize) -> Vec<usize> {
        let tasks = self.phase_tasks(phase).into_iter().filter(|t| match step {
            Step::Shards => matches!(t, Task::Shard { .. }),
            Step::ResolveParts => matches!(t, Task::ResolvePart { .. }),
            Step::Resolve => matches!(t, Task::Resolve { .. }),
            Step::Finish => false,
        });
        let mut ranks: Vec<usize> = tasks
            .filter(|t| !self.is_done(*t))
            .map(|t| self.owner(t))
            .collect();
        if step == Step::Finish && !self.is_complete() && phase + 1 == self.phases.len() {
            ranks.push(0);
        }
        ranks.sort_unstable();
        ranks.dedup();
        ranks
    }

    /// The rank that runs `task`.
    pub fn owner(&self, task: Task) -> usize {
        match task {
            Task::Shard { shard, .. } => self.ranks.owner(shard),
            Task::ResolvePart { part, .. } => self.ranks.owner(part),
            Task::Resolve { .. } => 0,
        }
    }

    /// Runs the phase's unfinished shards: the cut ones on every worker at once, then each
    /// `wide` one alone with its batches on every worker. Returns how many ran.
    fn run_phase_shards(
        &self,
        phase: &Phase<'_>,
        pool: &rayon::ThreadPool,
    ) -> Result<usize, PipelineError> {
        let done = |shard| {
            self.is_done(Task::Shard {
                phase: phase.index,
                shard,
            })
        };
        let mine: Vec<&ShardSpec> = self
            .shards
            .iter()
            .filter(|s| self.ranks.mine(s.index))
            .collect();
        let pending: Vec<&ShardSpec> = mine.iter().copied().filter(|s| !done(s.index)).collect();
        let (unit, total, finished) = shard::progress_units(self, &mine, phase.index, &done)?;
        let progress = Progress::new(
            &self.phase_label(phase.index),
            unit,
            (total, finished),
            (mine.len(), mine.len() - pending.len()),
        );
        // An uncuttable file runs wide only when it is a straggler: more than its share of
        // the phase's work. Many big .gz files are faster one per worker.
        let pending_bytes: u64 = pending.iter().map(|s| s.size).sum();
        let (wide, narrow): (Vec<&ShardSpec>, Vec<&ShardSpec>) = pending.iter().partition(|s| {
            s.wide && self.workers > 1 && s.size * self.workers as u64 > pending_bytes
        });
        let results: Vec<Result<_, PipelineError>> = pool.install(|| {
            narrow
                .par_iter()
                .map(|spec| self.run_shard(phase, spec, None, &progress))
                .collect()
        });
        results.into_iter().collect::<Result<Vec<_>, _>>()?;
        for spec in wide {
            self.run_shard(phase, spec, Some(pool), &progress)?;
        }
        progress.finish();
        Ok(pending.len())
    }

    /// Runs this rank's unfinished pieces of barrier `phase`'s resolve on every worker, once
    /// every rank's shards of the phase are done; then rank 0 runs the rest of it once every
    /// piece is done, and the other ranks wait for that.
    fn resolve_barrier(&self, phase: usize, pool: &rayon::ThreadPool) -> Result<(), PipelineError> {
        if self.is_done(Task::Resolve { phase }) {
            return Ok(());
        }
        self.await_tasks(phase, |t| matches!(t, Task::Shard { .. }))?;
        let (_, barrier) = self.phases[phase].barrier.expect("phase ends at a barrier");
        tracing::info!(stage = barrier.name(), "resolving barrier");
        let t = Instant::now();
        self.run_my_parts(phase, pool)?;
        if self.ranks.rank == 0 {
            self.await_tasks(phase, |t| matches!(t, Task::ResolvePart { .. }))?;
            let pieces = t.elapsed().as_secs_f64();
            self.run_task(Task::Resolve { phase })?;
            // Wall time of this invocation's resolve, for benchmarks (not part of the output).
            let timing = format!(
                "{{\"pieces_seconds\": {pieces:.3}, \"seconds\": {:.3}}}\n",
                t.elapsed().as_secs_f64()
            );
            write_atomic(&self.layout.resolve_timing(phase), timing.as_bytes())
        } else {
            self.await_tasks(phase, |t| matches!(t, Task::Resolve { .. }))
        }
    }

    fn phase_label(&self, phase: usize) -> String {
        let label = format!("phase {}/{}", phase + 1, self.phases.len());
        match self.ranks.world {
            1 => label,
            w => format!("rank {}/{w} {label}", self.ranks.rank),
        }
    }

    /// Runs one task of a barrier's resolve (shards run through [`run_phase_shards`]).
    pub fn run_task(&self, task: Task) -> Result<(), PipelineError> {
        let resolve_err = |phase: usize, b: &dyn Barrier| {
            let pos = self.phases[phase].barrier.expect("barrier").0;
            let stage = format!("{} (stage {pos})", b.name());
            move |source| PipelineError::Stage {
                stage,
                shard: 0,
                source,
            }
        };
        let n = self.shards.len();
        match task {
            Task::Shard { .. } => Err(PipelineError::OutputState {
                dir: self.layout.root().to_path_buf(),
                message: "internal: shard tasks run through the phase scheduler".into(),
            }),
            Task::ResolvePart { phase, part } => {
                let (_, b) = self.phases[phase].barrier.expect("barrier");
                b.resolve_part(&self.layout.barrier_dir(phase), n, part, self.workers)
                    .map_err(resolve_err(phase, b))?;
                write_atomic(&self.layout.resolve_part_done(phase, part), b"")
            }
            Task::Resolve { phase } => {
                let (_, b) = self.phases[phase].barrier.expect("barrier");
                b.resolve(&self.layout.barrier_dir(phase), n, self.workers)
                    .map_err(resolve_err(phase, b))?;
                write_atomic(&self.layout.resolved(phase), b"")
            }
        }
    }

    /// Merges every shard's stats of every phase into `stats.json`.
    fn merge_stats(&self) -> Result<RunStats, PipelineError> {
        let mut all = Vec::new();
        for phase in &self.phases {
            for s in &self.shards {
                all.push(read_json::<ShardStats>(
                    &self.layout.done_marker(phase.index, s.index),
                )?);
            }
        }
        let stats = RunStats::merge(&self.stage_names(), self.phases.len(), &all);
        write_atomic(
            &self.layout.stats(),
            &serde_json::to_vec_pretty(&stats).expect("serializes"),
        )?;
        Ok(stats)
    }

    /// Rows handed across barriers are not needed once the run is complete. Their files are
    /// unlinked by as many threads as the run has workers: freeing a file's pages takes
    /// most of a second per GB, as large as the input, on one thread.
    fn remove_intermediates(&self) {
        let mut dirs = vec![self.layout.finish_parts_dir()];
        let mut files = Vec::new();
        for phase in &self.phases {
            dirs.push(self.layout.barrier_dir(phase.index));
            let shards = self.shards.iter();
            files.extend(shards.map(|s| self.layout.intermediate(phase.index, s.index)));
        }
        for d in &dirs {
            let entries = std::fs::read_dir(d).into_iter().flatten().flatten();
            files.extend(entries.map(|e| e.path()));
        }
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.workers.clamp(1, files.len().max(1)) {
                scope.spawn(|| {
                    while let Some(f) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let _ = std::fs::remove_file(f);
                    }
                });
            }
        });
        // What is left: the directories, and anything in them that is not a file.
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A run's stages split at barriers: phase K ends with barrier K (except the last phase).
fn split_phases(stages: &[StageKind]) -> Vec<Phase<'_>> {
    let mut phases = vec![Phase {
        index: 0,
        stages: vec![],
        barrier: None,
    }];
    for (i, s) in stages.iter().enumerate() {
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
    phases
}

impl Executor<'_> {
    /// Whether phase `k` writes no rows of its own: it only applies the previous barrier
    /// and feeds the next one's observer (e.g. exact dedup's drops, then MinHash's
    /// signatures). The phase after it reads the same rows again and replays that applier,
    /// which costs far less than writing and reading every kept row once more.
    fn passes_through(&self, k: usize) -> bool {
        k > 0 && k + 1 < self.phases.len() && self.phases[k].stages.is_empty()
    }

    /// The phase whose intermediate files hold phase `k`'s input (`k` ≥ 1).
    fn source_phase(&self, k: usize) -> usize {
        let mut j = k - 1;
        while self.passes_through(j) {
            j -= 1;
        }
        j
    }
}

/// Reads back the rows a shard passed across a barrier.
struct IntermediateSource {
    reader: Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>,
    path: PathBuf,
}

impl IntermediateSource {
    fn open(path: PathBuf, limits: ReadLimits) -> Result<Self, PipelineError> {
        if !path.exists() {
            // The shard had no rows left at the barrier.
            return Ok(IntermediateSource { reader: None, path });
        }
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let pq = |source| PipelineError::Parquet {
            path: path.clone(),
            source,
        };
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(pq)?;
        // Batches of about `batch_mb`, from the file's average row size.
        let meta = builder.metadata().clone();
        let rows = meta.file_metadata().num_rows().max(0) as u64;
        let bytes = meta.row_groups().iter().map(|g| g.total_byte_size()).sum();
        let batch = crate::reader::rows_per_batch(&limits, rows, bytes);
        let reader =
            builder
                .with_batch_size(batch)
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

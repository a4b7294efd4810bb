//! Many processes on one run. Ranks share `OUT` (shared storage), split each phase's tasks by
//! stride (task i runs on rank i mod world) and meet at file barriers: a rank that needs
//! another's results waits for their markers. Each rank beats a heartbeat file while it works
//! and leaves a `failed` file when it fails, so a waiting rank stops with a clear error instead
//! of hanging when another died. Used under `mpirun`/`srun` (rank and size from the
//! environment) and by index-only engines (`--rank R --world W`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::PipelineError;

/// This process's place among the processes of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranks {
    pub rank: usize,
    pub world: usize,
}

impl Default for Ranks {
    fn default() -> Self {
        Ranks { rank: 0, world: 1 }
    }
}

impl Ranks {
    /// Checks `rank < world`.
    pub fn new(rank: usize, world: usize) -> Result<Self, String> {
        if world == 0 || rank >= world {
            return Err(format!("--rank {rank} must be below --world {world}"));
        }
        Ok(Ranks { rank, world })
    }

    /// Rank and size from an MPI launcher (Open MPI, MPICH / Intel MPI) or a Slurm job step
    /// (`srun`), when they name more than one process.
    pub fn from_env() -> Option<Ranks> {
        let get = |k: &str| std::env::var(k).ok()?.parse::<usize>().ok();
        // SLURM_PROCID alone is also set in a batch script, which is not a parallel step:
        // only srun sets SLURM_STEP_NUM_TASKS.
        [
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
            ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
        ]
        .iter()
        .find_map(|(r, w)| Some((get(r)?, get(w)?)))
        .and_then(|(rank, world)| Ranks::new(rank, world).ok())
        .filter(|r| r.world > 1)
    }

    /// Whether task `i` of a list runs on this rank.
    pub fn mine(&self, i: usize) -> bool {
        i % self.world == self.rank
    }

    pub fn owner(&self, i: usize) -> usize {
        i % self.world
    }
}

fn alive_file(dir: &Path, rank: usize) -> PathBuf {
    dir.join(format!("rank-{rank:05}.alive"))
}

fn failed_file(dir: &Path, rank: usize) -> PathBuf {
    dir.join(format!("rank-{rank:05}.failed"))
}

/// How long a rank may go without a heartbeat before the ranks waiting on it give up
/// (`SLUICE_RANK_TIMEOUT_SECS`, default 120); one that has not started yet gets five times
/// as long (pods and array tasks start late).
fn rank_timeout() -> Duration {
    std::env::var("SLUICE_RANK_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(120), Duration::from_secs_f64)
}

/// Rewrites this rank's heartbeat file every second until dropped.
pub(crate) struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    pub(crate) fn start(dir: &Path, rank: usize) -> Result<Self, PipelineError> {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
        let failed = failed_file(dir, rank);
        if failed.exists() {
            std::fs::remove_file(&failed).map_err(|e| PipelineError::io(&failed, e))?;
        }
        let (path, stop) = (alive_file(dir, rank), Arc::new(AtomicBool::new(false)));
        let nonce = format!("{} {:?}", std::process::id(), Instant::now());
        let beat = move |n: u64| {
            let _ = crate::durable::write_atomic(&path, format!("{nonce} {n}\n").as_bytes());
        };
        beat(0);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 1;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                if n % 4 == 0 {
                    beat(n / 4);
                }
                n += 1;
            }
        });
        Ok(Heartbeat {
            stop,
            thread: Some(thread),
        })
    }

    /// Leaves the error for the ranks that wait on this one.
    pub(crate) fn failed(&self, dir: &Path, rank: usize, e: &PipelineError) {
        let _ = crate::durable::write_atomic(&failed_file(dir, rank), e.to_string().as_bytes());
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Watches the ranks a waiting rank depends on.
pub(crate) struct Watch {
    dir: PathBuf,
    /// Per rank: the heartbeat content last seen, when it last changed, and whether it
    /// changed at all during this wait (a rank that has not started yet gets longer).
    seen: HashMap<usize, (Option<String>, Instant, bool)>,
    /// Failure files already there when the wait began (from an earlier attempt).
    stale: HashMap<usize, Option<String>>,
    timeout: Duration,
}

impl Watch {
    pub(crate) fn new(dir: &Path) -> Self {
        Watch {
            dir: dir.to_path_buf(),
            seen: HashMap::new(),
            stale: HashMap::new(),
            timeout: rank_timeout(),
        }
    }

    /// Fails if one of `owners` failed in this attempt or stopped beating.
    fn check(&mut self, owners: &BTreeSet<usize>) -> Result<(), PipelineError> {
        for &r in owners {
            let failed = std::fs::read_to_string(failed_file(&self.dir, r)).ok();
            let stale = self.stale.entry(r).or_insert_with(|| failed.clone());
            if failed.is_some() && failed != *stale {
                return Err(PipelineError::RankFailed {
                    rank: r,
                    message: failed.unwrap_or_default().trim().to_string(),
                });
            }
            let beat = std::fs::read_to_string(alive_file(&self.dir, r)).ok();
            let now = Instant::now();
            let (last, since, changed) = self.seen.entry(r).or_insert((beat.clone(), now, false));
            if *last != beat {
                (*last, *since, *changed) = (beat, now, true);
                continue;
            }
            let limit = match changed {
                true => self.timeout,
                false => self.timeout * 5,
            };
            if now.duration_since(*since) > limit {
                return Err(PipelineError::RankFailed {
                    rank: r,
                    message: format!(
                        "no heartbeat for {:.0} s (died or never started); rerun the job to \
                         resume from the finished tasks",
                        limit.as_secs_f64()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Waits until `pending()` (the owner rank of each marker not there yet) is empty.
    pub(crate) fn wait(
        &mut self,
        what: &str,
        pending: &dyn Fn() -> Vec<usize>,
    ) -> Result<(), PipelineError> {
        let mut logged = Instant::now();
        loop {
            let left = pending();
            if left.is_empty() {
                return Ok(());
            }
            let owners: BTreeSet<usize> = left.iter().copied().collect();
            self.check(&owners)?;
            if logged.elapsed() > Duration::from_secs(30) {
                tracing::info!("waiting for {what}: {} left (ranks {owners:?})", left.len());
                logged = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

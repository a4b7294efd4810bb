//! `OutputLayout`: every path under a run's output directory, in one place. The executor,
//! the task entry points and the readers of a finished run (report, inspect, tokenize) name
//! files through it instead of joining strings of their own.
//!
//! ```text
//! OUT/
//!   curated/part-NNNNN.parquet         kept documents of shard NNNNN (a Parquet dataset)
//!   curated-jsonl/part-NNNNN.jsonl     the same as JSON lines (output.jsonl = true)
//!   rejected/phaseK-part-NNNNN.parquet dropped and quarantined documents with reasons
//!   stats.json                         merged per-stage statistics, once the run completes
//!   work/run.json                      the run's fingerprint (config + input files)
//!   work/phase-K/done-NNNNN.json       shard NNNNN finished phase K (its stats)
//!   work/phase-K/part-NNNNN.parquet    rows passed from phase K to K+1 across a barrier
//!   work/phase-K/resolved              barrier K resolved
//!   work/phase-K/resolve-NNNNN.done    piece NNNNN of barrier K's resolve finished
//!   work/barrier-K/                    barrier K's own files
//!   work/finish/part-NNNNN             the finish step's share of shard NNNNN (tokens)
//!   work/ranks/rank-RRRRR.alive|failed heartbeat / error of rank R of a multi-process run
//!   work/complete.json                 the run finished
//!   work/slurm/                        logs of a run submitted to Slurm
//!   manifest.json                      token shards per domain ([tokenize])
//!   shards/<domain>/part-NNNNN.arrow   packed token shards
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct OutputLayout {
    root: PathBuf,
}

impl OutputLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutputLayout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directories whose leftover `.tmp` files a restart removes.
    pub fn swept_dirs(&self) -> [PathBuf; 4] {
        ["curated", "curated-jsonl", "rejected", "work"].map(|d| self.root.join(d))
    }

    /// The curated Parquet dataset (every shard's kept documents).
    pub fn curated_dir(&self) -> PathBuf {
        self.root.join("curated")
    }

    pub fn curated(&self, shard: usize) -> PathBuf {
        self.curated_dir().join(format!("part-{shard:05}.parquet"))
    }

    pub fn curated_jsonl(&self, shard: usize) -> PathBuf {
        self.root
            .join("curated-jsonl")
            .join(format!("part-{shard:05}.jsonl"))
    }

    /// Every phase's rejected and quarantined documents (one Parquet dataset).
    pub fn rejected_dir(&self) -> PathBuf {
        self.root.join("rejected")
    }

    pub fn rejected(&self, phase: usize, shard: usize) -> PathBuf {
        self.rejected_dir()
            .join(format!("phase{phase}-part-{shard:05}.parquet"))
    }

    pub fn stats(&self) -> PathBuf {
        self.root.join("stats.json")
    }

    /// The token shards' manifest (written by the `[tokenize]` finish step).
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }

    /// The packed token shards, a directory per domain.
    pub fn shards_dir(&self) -> PathBuf {
        self.root.join("shards")
    }

    /// Logs of the jobs of a run submitted to Slurm.
    pub fn slurm_logs(&self) -> PathBuf {
        self.work().join("slurm")
    }

    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    pub fn run_file(&self) -> PathBuf {
        self.work().join("run.json")
    }

    pub fn complete(&self) -> PathBuf {
        self.work().join("complete.json")
    }

    pub fn phase_dir(&self, phase: usize) -> PathBuf {
        self.work().join(format!("phase-{phase}"))
    }

    pub fn barrier_dir(&self, phase: usize) -> PathBuf {
        self.work().join(format!("barrier-{phase}"))
    }

    pub fn done_marker(&self, phase: usize, shard: usize) -> PathBuf {
        self.phase_dir(phase).join(format!("done-{shard:05}.json"))
    }

    pub fn resolved(&self, phase: usize) -> PathBuf {
        self.phase_dir(phase).join("resolved")
    }

    /// Wall time of barrier `phase`'s resolve in the invocation that ran it.
    pub fn resolve_timing(&self, phase: usize) -> PathBuf {
        self.phase_dir(phase).join("resolve-time.json")
    }

    /// Marker of one piece (partition) of barrier `phase`'s resolve.
    pub fn resolve_part_done(&self, phase: usize, part: usize) -> PathBuf {
        self.phase_dir(phase)
            .join(format!("resolve-{part:05}.done"))
    }

    /// Heartbeat and failure files of the ranks of a multi-process run.
    pub fn ranks_dir(&self) -> PathBuf {
        self.work().join("ranks")
    }

    /// Whether `rel` (a `/`-separated path under OUT) is a marker: a file whose presence
    /// says that the files of its task are all in place (copied to object storage last).
    pub fn is_marker(rel: &str) -> bool {
        let Some(name) = rel
            .strip_prefix("work/")
            .map(|r| r.rsplit('/').next().unwrap_or(r))
        else {
            return false;
        };
        (name.starts_with("done-") && name.ends_with(".json"))
            || name == "resolved"
            || (name.starts_with("resolve-") && name.ends_with(".done"))
            || name == "complete.json"
    }

    /// The finish step's file for curated shard `shard` ([`crate::FinishPart`]).
    pub fn finish_part(&self, shard: usize) -> PathBuf {
        self.finish_parts_dir().join(format!("part-{shard:05}"))
    }

    pub fn finish_parts_dir(&self) -> PathBuf {
        self.work().join("finish")
    }

    /// The shard number of a curated file (`curated/part-NNNNN.parquet`).
    pub fn curated_shard(path: &Path) -> Option<usize> {
        let name = path.file_name()?.to_str()?;
        name.strip_prefix("part-")?
            .strip_suffix(".parquet")?
            .parse()
            .ok()
    }

    pub fn intermediate(&self, phase: usize, shard: usize) -> PathBuf {
        self.phase_dir(phase)
            .join(format!("part-{shard:05}.parquet"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are the on-disk contract that resumes and readers of a run rely on.
    #[test]
    fn names_are_stable() {
        let l = OutputLayout::new("/o");
        assert_eq!(l.curated(3), Path::new("/o/curated/part-00003.parquet"));
        assert_eq!(
            l.rejected(1, 2),
            Path::new("/o/rejected/phase1-part-00002.parquet")
        );
        assert_eq!(
            l.done_marker(0, 7),
            Path::new("/o/work/phase-0/done-00007.json")
        );
        assert_eq!(
            l.intermediate(0, 7),
            Path::new("/o/work/phase-0/part-00007.parquet")
        );
        assert_eq!(
            l.curated_jsonl(0),
            Path::new("/o/curated-jsonl/part-00000.jsonl")
        );
        assert_eq!(l.finish_part(4), Path::new("/o/work/finish/part-00004"));
        assert_eq!(OutputLayout::curated_shard(&l.curated(12)), Some(12));
        assert_eq!(
            OutputLayout::curated_shard(Path::new("/o/curated/x.parquet")),
            None
        );
    }

    /// Markers go to object storage after the files they vouch for.
    #[test]
    fn markers_are_told_from_data() {
        let l = OutputLayout::new("/o");
        let rel = |p: PathBuf| p.strip_prefix("/o").unwrap().to_string_lossy().into_owned();
        for m in [
            l.done_marker(1, 2),
            l.resolved(0),
            l.resolve_part_done(0, 3),
            l.complete(),
        ] {
            assert!(OutputLayout::is_marker(&rel(m.clone())), "{m:?}");
        }
        for d in [
            l.intermediate(0, 1),
            l.curated(0),
            l.stats(),
            l.run_file(),
            l.rejected(0, 0),
        ] {
            assert!(!OutputLayout::is_marker(&rel(d.clone())), "{d:?}");
        }
    }
}

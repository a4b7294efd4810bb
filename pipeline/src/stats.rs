//! Per-stage counters, written per shard next to its output and merged into `OUT/stats.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::PipelineError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StageStats {
    pub name: String,
    pub docs_in: u64,
    pub docs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Summed over shards (CPU seconds across workers, not wall time).
    pub seconds: f64,
    pub rejects: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
}

impl StageStats {
    pub fn named(name: &str) -> Self {
        StageStats {
            name: name.to_string(),
            ..Default::default()
        }
    }

    pub fn merge(&mut self, o: &StageStats) {
        self.docs_in += o.docs_in;
        self.docs_out += o.docs_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.seconds += o.seconds;
        for (k, v) in &o.rejects {
            *self.rejects.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
    }

    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }
}

/// What one shard did in one phase; its file doubles as the shard's completion marker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShardStats {
    pub phase: usize,
    pub shard: usize,
    /// Keyed by the stage's position in the run: 0 is the reader, i is `[[stages]]` i-1.
    pub stages: BTreeMap<usize, StageStats>,
    pub output_docs: u64,
    pub output_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutputStats {
    pub docs: u64,
    pub bytes: u64,
}

/// `OUT/stats.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    pub format_version: u32,
    pub sluice_version: String,
    pub shards: usize,
    pub phases: usize,
    /// Records read from the input, good and bad.
    pub input_records: u64,
    /// Input records that could not be read (all in `rejected/` with stage `read`).
    pub quarantined: u64,
    /// Documents dropped by a stage after reading.
    pub rejected: u64,
    pub output: OutputStats,
    /// The reader first, then each configured stage in order.
    pub stages: Vec<StageStats>,
}

impl RunStats {
    pub const FORMAT_VERSION: u32 = 1;

    /// Reads a run's `stats.json`.
    pub fn read(path: &Path) -> Result<Self, PipelineError> {
        let bytes = std::fs::read(path).map_err(|e| PipelineError::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| PipelineError::OutputState {
            dir: path.to_path_buf(),
            message: format!("not a sluice stats file: {e}"),
        })
    }

    pub fn merge(stage_names: &[String], phases: usize, shards: &[ShardStats]) -> Self {
        let mut stages: Vec<StageStats> =
            stage_names.iter().map(|n| StageStats::named(n)).collect();
        let mut output = OutputStats::default();
        let mut shard_ids = std::collections::BTreeSet::new();
        for s in shards {
            shard_ids.insert(s.shard);
            for (i, st) in &s.stages {
                stages[*i].merge(st);
            }
            if s.phase + 1 == phases {
                output.docs += s.output_docs;
                output.bytes += s.output_bytes;
            }
        }
        let quarantined = stages[0].rejected();
        RunStats {
            format_version: Self::FORMAT_VERSION,
            sluice_version: env!("CARGO_PKG_VERSION").to_string(),
            shards: shard_ids.len(),
            phases,
            input_records: stages[0].docs_in,
            quarantined,
            rejected: stages[1..].iter().map(StageStats::rejected).sum(),
            output,
            stages,
        }
    }
}

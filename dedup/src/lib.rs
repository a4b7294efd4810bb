//! Deduplication as pipeline barrier stages: exact duplicates by xxh3-128 of normalised
//! text ([`ExactDedup`], `exact_dedup`) and near-duplicates by MinHash LSH
//! ([`MinHashDedup`], `minhash_dedup`) in disk-backed phases: signatures → band files
//! partitioned by key and sorted on disk → candidate pairs → parallel connected components
//! → keep rule → filter. Results never depend on the worker count.

/// The resolve methods of a [`pipeline::Barrier`] that both dedups share: one resolve piece
/// per partition (`config.partitions`, each `partition_pairs`), then `resolve_inner` on a pool
/// of `workers` threads. Expands inside an `impl Barrier` block.
macro_rules! partitioned_resolve {
    () => {
        fn resolve_parts(&self) -> usize {
            self.config.partitions
        }

        fn resolve_part(
            &self,
            dir: &Path,
            shards: usize,
            part: usize,
            workers: usize,
        ) -> Result<(), StageError> {
            self.partition_pairs(dir, part, shards, workers)
        }

        fn resolve(&self, dir: &Path, shards: usize, workers: usize) -> Result<(), StageError> {
            $crate::records::in_pool(workers, || self.resolve_inner(dir, shards, workers))
        }
    };
}

/// The [`pipeline::Barrier`] methods that let a dedup stage with an optional persistent
/// index (`self.index`) lock and pin it at the run's start and add to it at its end.
macro_rules! index_lifecycle {
    () => {
        fn begin(
            &self,
            run: &pipeline::BarrierRun,
        ) -> Result<Option<pipeline::RunGuard>, StageError> {
            self.index.as_ref().map_or(Ok(None), |i| i.begin(run))
        }

        fn publish(&self, run: &pipeline::BarrierRun) -> Result<(), StageError> {
            self.index.as_ref().map_or(Ok(()), |i| i.publish(run))
        }
    };
}

mod docstore;
mod exact_dedup;
pub mod index;
pub mod minhash;
mod minhash_dedup;
mod normalize;
pub mod records;
pub mod shingle;
mod unionfind;

pub use exact_dedup::{ExactConfig, ExactDedup, Granularity};
pub use minhash_dedup::{KeepRule, MinHashConfig, MinHashDedup, Verify};
pub use normalize::normalize_for_hash;
pub use unionfind::UnionFind;

use pipeline::{StageInfo, StageRegistry};

/// Adds this crate's stages to `registry`.
pub fn register(registry: &mut StageRegistry) {
    registry.register(StageInfo {
        type_name: "exact_dedup",
        summary: "barrier: xxh3-128 of normalised text, first occurrence in run order kept; \
                  granularity document / line / paragraph; sorted on disk within memory_mb",
        outputs: "exact_dedup.duplicate (detail: the kept id and file), \
                  exact_dedup.duplicate_of_indexed (with index/reference: id, file and run), \
                  exact_dedup.all_units_duplicate",
        factory: exact_dedup::build,
    });
    registry.register(StageInfo {
        type_name: "minhash_dedup",
        summary: "barrier: MinHash LSH near-duplicates in disk-backed phases, optional \
                  verification, keep rule first / longest / score",
        outputs: "minhash_dedup.near_duplicate (detail: the survivor's id and file), \
                  minhash_dedup.duplicate_of_indexed (with index/reference); \
                  columns dup_cluster, dup_cluster_size",
        factory: minhash_dedup::build,
    });
}

#[cfg(test)]
mod tests {
    /// Both dedup barriers describe themselves and build from their defaults.
    #[test]
    fn every_stage_type_builds_from_defaults_and_has_its_name() {
        let mut r = pipeline::StageRegistry::default();
        super::register(&mut r);
        assert_eq!(pipeline::testing::check_stage_types(&r, &[]), 2);
    }
}

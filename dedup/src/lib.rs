//! Deduplication as pipeline barrier stages: exact duplicates by xxh3-128 of normalised
//! text ([`ExactDedup`], `exact_dedup`) and near-duplicates by MinHash LSH
//! ([`MinHashDedup`], `minhash_dedup`) in disk-backed phases: signatures → band files
//! partitioned by key and sorted on disk → candidate pairs → parallel connected components
//! → keep rule → filter. Results never depend on the worker count.

mod docstore;
mod exact;
pub mod minhash;
mod near;
mod normalize;
pub mod records;
pub mod shingle;
mod unionfind;

pub use exact::{ExactConfig, ExactDedup, Granularity};
pub use near::{KeepRule, MinHashConfig, MinHashDedup, Verify};
pub use normalize::normalize_for_hash;
pub use unionfind::UnionFind;

use pipeline::StageRegistry;

/// Adds this crate's stages to `registry`.
pub fn register(registry: &mut StageRegistry) {
    registry.register("exact_dedup", exact::build);
    registry.register("minhash_dedup", near::build);
}

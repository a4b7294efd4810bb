//! Deduplication as pipeline barrier stages: exact duplicates by xxh3-128 of normalised
//! text (this file's [`ExactDedup`]); MinHash LSH near-duplicates come with issue 4.
//! Keep rule: the first occurrence in run order (shard, then row) survives, so the result
//! does not depend on the worker count.

mod exact;
mod normalize;

pub use exact::ExactDedup;
pub use normalize::normalize_for_hash;

use pipeline::StageRegistry;

/// Adds this crate's stages to `registry`.
pub fn register(registry: &mut StageRegistry) {
    registry.register("exact_dedup", exact::build);
}

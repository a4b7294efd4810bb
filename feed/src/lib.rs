//! Feeding a trainer from sluice's packed token shards, without libtorch: the manifest, the
//! memory-mapped shards (`shard`, `data`; from a bucket through a local `cache`), the domain
//! mixture and its update rules (`sampler`), and the deterministic plan of each step's
//! global batch with its per-rank slices (`loader`).
//! `sluice train` (the `train` crate) and the Python package (`python/`) both use it, so a
//! PyTorch loop and the tch trainer draw the same rows for the same seed and weights.

pub mod cache;
pub mod data;
pub mod error;
pub mod loader;
pub mod manifest;
pub mod sampler;
pub mod shard;

pub use data::ShardSet;
pub use error::FeedError;
pub use manifest::Manifest;

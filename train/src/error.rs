//! Errors of the trainer; each names the file (and where it helps the row or key) involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// The manifest or its shards (missing, damaged, changed).
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// The config does not fit the data or the machine (no CUDA device, a batch that does
    /// not split over the ranks, a mixing domain the manifest lacks): the user's to change.
    #[error("{0}")]
    Setup(String),
    /// A broken invariant: a bug in sluice, not a mistake of the user's.
    #[error("internal error (a bug in sluice; please report it): {0}")]
    Internal(String),
}

impl TrainError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::Data {
            path: path.into(),
            message: message.into(),
        }
    }
}

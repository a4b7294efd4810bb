//! What can go wrong building or opening a decontamination index: the user's mistakes (a
//! missing or foreign file, evaluation files without usable text) named with the file, the
//! record and the field.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DecontError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a sluice decontamination index ({why})")]
    NotAnIndex { path: PathBuf, why: String },
    #[error("{path}: record {record}: {message}")]
    BadRecord {
        path: PathBuf,
        record: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    BadEvalFile { path: PathBuf, message: String },
    #[error("no usable text: {0}")]
    NoText(String),
    #[error("the index is too large: {0}")]
    TooLarge(String),
}

impl DecontError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DecontError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn not_index(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        DecontError::NotAnIndex {
            path: path.into(),
            why: why.into(),
        }
    }
}

//! Errors of fetching and converting optional corpora.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("unknown corpus `{name}`; known: {known}")]
    UnknownCorpus { name: String, known: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("{path} is held by another `sluice datasets fetch` of the same corpus; wait for it to finish")]
    Locked { path: PathBuf },
}

impl DatasetError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn layout(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DatasetError::Layout {
            path: path.into(),
            message: message.into(),
        }
    }
}

//! Errors of the tokenize crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{path}: arrow: {message}")]
    Arrow { path: PathBuf, message: String },
    #[error("tokenize config: {0}")]
    Config(String),
}

impl TokenizeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TokenizeError::Io {
            path: path.into(),
            source,
        }
    }
}

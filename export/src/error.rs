//! What goes wrong exporting: the user's mistakes (no manifest, a dtype too small for the
//! vocabulary, an export directory holding another run's export) and I/O, naming the path.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

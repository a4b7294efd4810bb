//! Error types of the pipeline crate.

use std::path::PathBuf;

/// Everything that can stop a pipeline run. Bad *records* are never an error: they are
/// quarantined and counted (see [`crate::reader::Quarantined`]); these are the failures that
/// leave no sensible way to go on (unreadable config, unwritable output, a second run).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error(
        "output dir {dir} is in use by another sluice run{holder}; wait for it to finish or choose another output dir"
    )]
    Locked { dir: PathBuf, holder: String },
    #[error("output dir {dir}: {message}")]
    OutputState { dir: PathBuf, message: String },
    #[error("{path}: arrow: {source}")]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("{path}: parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("stage '{stage}' (shard {shard}): {source}")]
    Stage {
        stage: String,
        shard: usize,
        #[source]
        source: StageError,
    },
    #[error("{step}: {message}")]
    Finish { step: String, message: String },
    #[error("strict input: {detail} (set run.strict = false to quarantine bad records and go on)")]
    StrictInput { detail: String },
    #[error("rank {rank} of this run failed: {message}")]
    RankFailed { rank: usize, message: String },
    /// Object storage (`s3://`) failed or refused, naming the object.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Failure inside a stage or barrier.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("missing column '{0}' in the document batch")]
    MissingColumn(String),
    #[error("column '{column}' has type {found}, expected {expected}")]
    ColumnType {
        column: String,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The input goes past a limit of the stage; the user can change the input or config.
    #[error("{0}")]
    Limit(String),
    /// The stage's config does not fit the data it met (an expression comparing a text
    /// column with a number); the user changes the config.
    #[error("{0}")]
    Config(String),
    /// A work file under the output dir is damaged (cut short, overwritten by hand).
    #[error(
        "{path}: {what}; the run's work file is damaged: remove the output dir's work/ and rerun"
    )]
    Corrupt { path: PathBuf, what: String },
    /// A broken invariant: a bug in sluice, not a mistake of the user's.
    #[error("internal error (a bug in sluice; please report it): {0}")]
    Internal(String),
}

impl PipelineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.into(),
            source,
        }
    }
}

impl StageError {
    /// Whether the user can fix this by changing the input, the config or the machine
    /// (a missing column, a limit, an unreadable or damaged file), as opposed to a bug.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, StageError::Internal(_))
    }

    pub fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        StageError::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StageError::Io {
            path: path.into(),
            source,
        }
    }
}

//! Looking inside a run with polars: SQL over its output ([`tables`]), reproducible samples of
//! documents by reason ([`sample`]), the numbers the HTML report draws ([`profile`]), result
//! output ([`output`]), and the `sql_filter` stage ([`sql_filter`]) that evaluates a SQL
//! expression on each batch, which crosses from arrow-rs to polars zero-copy ([`bridge`]).

pub mod bridge;
pub mod output;
pub mod profile;
pub mod sample;
pub mod sql_filter;
pub mod tables;

use std::path::{Path, PathBuf};

use pipeline::{StageInfo, StageRegistry};
use polars::prelude::PolarsError;

pub use output::{write_frame, Format};
pub use sample::{sample, SampleSpec};
pub use sql_filter::SqlFilter;
pub use tables::RunTables;

/// What can go wrong looking inside a run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The directory is not a finished run (the user's mistake).
    #[error("{dir}: {message}")]
    NotARun { dir: PathBuf, message: String },
    /// The SQL does not parse, or names a table or column that is not there (the user's).
    #[error("query: {message}\n  tables: {}", tables::TABLES.join(", "))]
    Sql { message: String },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A broken invariant: a bug in sluice.
    #[error("internal error (a bug in sluice; please report it): {0}")]
    Internal(String),
}

impl QueryError {
    pub(crate) fn sql(e: PolarsError) -> Self {
        match e {
            PolarsError::IO { .. } => QueryError::Io {
                path: PathBuf::new(),
                message: e.to_string(),
            },
            e => QueryError::Sql {
                message: e.to_string(),
            },
        }
    }

    pub(crate) fn polars(path: &Path, e: PolarsError) -> Self {
        QueryError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        QueryError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    pub(crate) fn internal(e: PolarsError) -> Self {
        QueryError::Internal(e.to_string())
    }
}

/// Runs `lf` on polars' streaming engine: a query over a large run reads its files in
/// morsels instead of loading them whole.
pub fn collect(lf: polars::prelude::LazyFrame) -> Result<polars::prelude::DataFrame, QueryError> {
    (lf.collect_with_engine(polars::prelude::Engine::Streaming))
        .map(|r| r.unwrap_single())
        .map_err(QueryError::sql)
}

/// Registers the `sql_filter` stage.
pub fn register(registry: &mut StageRegistry) {
    registry.register(StageInfo {
        type_name: "sql_filter",
        summary: "keeps documents for which a SQL expression over the batch's columns is true \
                  (where = \"lang_score > 0.8 AND length(text) < 100000\"; meta.FIELD for \
                  fields of the meta JSON), evaluated by polars",
        outputs: "sql_filter.where (the expression in the detail)",
        factory: sql_filter::build,
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn stage_types_build() {
        let mut r = pipeline::StageRegistry::default();
        super::register(&mut r);
        assert_eq!(pipeline::testing::check_stage_types(&r, &["sql_filter"]), 1);
    }
}

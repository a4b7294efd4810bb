//! Writing a query's result: an aligned table for a person, CSV, JSON lines or Parquet for a
//! script. A file is written whole or not at all (`pipeline::durable`).

use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use crate::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An aligned table (the first and last rows of a long result).
    Table,
    Csv,
    /// JSON lines: one object per row.
    Json,
    Parquet,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!(
                "unknown format '{s}'; one of table, csv, json, parquet"
            )),
        }
    }
}

/// Writes `df` as `format` to `out`, or to stdout when `out` is `None`.
pub fn write_frame(
    df: &mut DataFrame,
    format: Format,
    out: Option<&Path>,
) -> Result<(), QueryError> {
    let mut bytes = Vec::new();
    let target = out.unwrap_or(Path::new("<stdout>"));
    let err = |e: PolarsError| QueryError::polars(target, e);
    match format {
        Format::Table => writeln!(bytes, "{df}").map_err(|e| QueryError::io(target, e))?,
        Format::Csv => CsvWriter::new(&mut bytes).finish(df).map_err(err)?,
        Format::Json => JsonWriter::new(&mut bytes)
            .with_json_format(JsonFormat::JsonLines)
            .finish(df)
            .map_err(err)?,
        Format::Parquet => {
            ParquetWriter::new(&mut bytes).finish(df).map_err(err)?;
        }
    }
    match out {
        Some(path) => pipeline::durable::write_atomic(path, &bytes),
        None => std::io::stdout().lock().write_all(&bytes),
    }
    .map_err(|e| QueryError::io(target, e))
}

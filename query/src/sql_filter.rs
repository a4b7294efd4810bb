//! `sql_filter`: keeps the documents for which a SQL expression (`where = "lang_score > 0.8
//! AND length(text) < 100000"`) is true. polars evaluates it on each batch; only the columns
//! it names cross over, through the Arrow C data interface ([`crate::bridge`]). Fields of the
//! `meta` JSON are named `meta.FIELD`. An expression that does not parse, or names a column
//! that neither the reader nor an earlier stage provides, is refused when the config loads.

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch, StringArray};
use pipeline::document::{str_column, META};
use pipeline::stage::parse_stage_table;
use pipeline::{Decisions, Stage, StageContext, StageEnv, StageError, StageKind, StageOutput};
use polars::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::bridge::{mask_of, to_polars};

/// The reject reason of every row the expression does not keep.
pub const REASON: &str = "sql_filter.where";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlFilterConfig {
    /// A SQL boolean expression over the batch's columns.
    #[serde(rename = "where")]
    predicate: String,
}

pub struct SqlFilter {
    /// As the user wrote it (the reject detail).
    text: String,
    expr: Expr,
    /// Batch columns the expression names.
    columns: Vec<String>,
    /// `meta` fields it names (`meta.FIELD`), each becoming the column `meta.FIELD`.
    meta_fields: Vec<String>,
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: SqlFilterConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(SqlFilter::new(&c.predicate)?)))
}

impl SqlFilter {
    /// Parses `predicate`; the error says what is wrong with it.
    pub fn new(predicate: &str) -> Result<Self, String> {
        let sql = quote_meta_fields(predicate);
        let expr = polars::sql::sql_expr(&sql)
            .map_err(|e| format!("`where = \"{predicate}\"` does not parse: {e}"))?;
        let mut columns = Vec::new();
        let mut meta_fields = Vec::new();
        for name in expr.clone().meta().root_names() {
            match name.strip_prefix("meta.") {
                Some(field) if !meta_fields.iter().any(|f| f == field) => {
                    meta_fields.push(field.to_string())
                }
                Some(_) => {}
                None if !columns.iter().any(|c| c == name.as_str()) => {
                    columns.push(name.to_string())
                }
                None => {}
            }
        }
        Ok(SqlFilter {
            text: predicate.to_string(),
            expr,
            columns,
            meta_fields,
        })
    }

    /// The keep mask of `batch`: the expression's value per row, null counting as false.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<arrow::array::BooleanArray, StageError> {
        let names: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        let mut df = to_polars(batch, &names).map_err(|e| self.error(e))?;
        widen_floats(&mut df).map_err(|e| self.error(e))?;
        if !self.meta_fields.is_empty() {
            let meta = str_column(batch, META)?;
            for s in meta_columns(meta, &self.meta_fields) {
                df.with_column(s).map_err(|e| self.error(e))?;
            }
        }
        let n = batch.num_rows();
        let out = df
            .lazy()
            .select([self.expr.clone().alias("__keep")])
            .collect()
            .map_err(|e| self.error(e))?;
        let keep = out.column("__keep").map_err(|e| self.error(e))?;
        if keep.dtype() != &DataType::Boolean {
            return Err(StageError::Config(format!(
                "sql_filter `where = \"{}\"` gives {} values, not true/false",
                self.text,
                keep.dtype()
            )));
        }
        // A constant expression (`where = "true"`) comes back as one value.
        let keep = match keep.len() {
            1 if n != 1 => keep.new_from_index(0, n),
            _ => keep.clone(),
        };
        mask_of(&keep).map_err(|e| self.error(e))
    }

    fn error(&self, e: PolarsError) -> StageError {
        match e {
            PolarsError::ColumnNotFound(_) => StageError::Internal(format!(
                "sql_filter `where = \"{}\"`: {e} (the column check at load time missed it)",
                self.text
            )),
            e => StageError::Config(format!("sql_filter `where = \"{}\"`: {e}", self.text)),
        }
    }
}

impl Stage for SqlFilter {
    fn name(&self) -> &str {
        "sql_filter"
    }

    fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        let missing: Vec<&str> = (self.columns.iter())
            .filter(|c| !input.contains(c))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return Ok(input.to_vec());
        }
        Err(format!(
            "`where = \"{}\"` names {}, which neither the reader nor an earlier stage \
             provides; the columns here are: {} (fields of the meta JSON: meta.FIELD)",
            self.text,
            missing.join(", "),
            input.join(", ")
        ))
    }

    fn process(&self, batch: RecordBatch, _: &mut StageContext) -> Result<StageOutput, StageError> {
        let keep = self.evaluate(&batch)?;
        let mut d = Decisions::with_capacity(batch.num_rows());
        for k in keep.values().iter() {
            match k {
                true => d.keep(),
                false => d.reject(REASON, Some(&self.text)),
            }
        }
        Ok(d.finish(batch))
    }
}

/// Float32 columns (`lang_score`) as Float64, so that `lang_score > 0.8` compares in double
/// precision as pyarrow and DuckDB do (polars would round the literal to f32 instead).
fn widen_floats(df: &mut DataFrame) -> PolarsResult<()> {
    let narrow: Vec<Column> = (df.columns().iter())
        .filter(|c| c.dtype() == &DataType::Float32)
        .map(|c| c.cast(&DataType::Float64))
        .collect::<PolarsResult<_>>()?;
    for c in narrow {
        df.with_column(c)?;
    }
    Ok(())
}

/// `meta.FIELD` outside string literals and quoted names becomes the quoted column name
/// `"meta.FIELD"` (SQL would read `meta.FIELD` as column FIELD of a table `meta`).
fn quote_meta_fields(sql: &str) -> String {
    let b = sql.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = String::with_capacity(sql.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let end = (i + 1..b.len())
                .find(|&j| b[j] == c)
                .map_or(b.len(), |j| j + 1);
            out.push_str(&sql[i..end]);
            i = end;
        } else if sql[i..].starts_with("meta.")
            && (i == 0 || !ident(b[i - 1]))
            && b.get(i + 5).is_some_and(|&c| ident(c))
        {
            let end = (i + 5..b.len()).find(|&j| !ident(b[j])).unwrap_or(b.len());
            out.push('"');
            out.push_str(&sql[i..end]);
            out.push('"');
            i = end;
        } else {
            let len = sql[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&sql[i..i + len]);
            i += len;
        }
    }
    out
}

/// The named fields of each row's `meta` JSON as columns `meta.FIELD`: Float64 when every
/// present value is a number, Boolean when every one is a boolean, String otherwise (other
/// values as their JSON text); a row without the field (or without meta) is null.
fn meta_columns(meta: &StringArray, fields: &[String]) -> Vec<Column> {
    let mut values: Vec<Vec<Option<Value>>> = vec![Vec::with_capacity(meta.len()); fields.len()];
    for i in 0..meta.len() {
        let mut obj: BTreeMap<String, Value> = match meta.is_valid(i) {
            true => serde_json::from_str(meta.value(i)).unwrap_or_default(),
            false => BTreeMap::new(),
        };
        for (f, v) in fields.iter().zip(&mut values) {
            v.push(obj.remove(f).filter(|v| !v.is_null()));
        }
    }
    (fields.iter().zip(values))
        .map(|(f, v)| typed_column(&format!("meta.{f}"), v))
        .collect()
}

fn typed_column(name: &str, v: Vec<Option<Value>>) -> Column {
    let present = || v.iter().flatten();
    if present().next().is_none() {
        return Column::full_null(name.into(), v.len(), &DataType::Null);
    }
    if present().all(Value::is_number) {
        let f: Vec<Option<f64>> = v
            .iter()
            .map(|x| x.as_ref().and_then(Value::as_f64))
            .collect();
        return Column::new(name.into(), f);
    }
    if present().all(Value::is_boolean) {
        let b: Vec<Option<bool>> = v
            .iter()
            .map(|x| x.as_ref().and_then(Value::as_bool))
            .collect();
        return Column::new(name.into(), b);
    }
    let s: Vec<Option<String>> = (v.into_iter())
        .map(|x| {
            x.map(|x| match x {
                Value::String(s) => s,
                other => other.to_string(),
            })
        })
        .collect();
    Column::new(name.into(), s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::testing::batch_of;

    #[test]
    fn meta_fields_are_quoted_outside_literals() {
        assert_eq!(
            quote_meta_fields("meta.score > 0.5 AND text <> 'meta.x' AND xmeta.y = 1"),
            "\"meta.score\" > 0.5 AND text <> 'meta.x' AND xmeta.y = 1"
        );
        assert_eq!(quote_meta_fields("\"meta.a\" = 'é'"), "\"meta.a\" = 'é'");
    }

    #[test]
    fn keeps_rows_where_the_expression_holds() {
        let f = SqlFilter::new("length(text) < 6 AND text LIKE '%a%'").unwrap();
        let batch = batch_of(&["abc", "abcdefgh", "xyz", "日本語a"]);
        let out = f.process(batch, &mut StageContext::new(0)).unwrap();
        let keep: Vec<bool> = out.keep.values().iter().collect();
        assert_eq!(keep, vec![true, false, false, true]);
        assert_eq!(out.reason.value(1), REASON);
        assert_eq!(out.detail.value(1), "length(text) < 6 AND text LIKE '%a%'");
    }

    #[test]
    fn a_bad_expression_or_missing_column_is_refused() {
        let e = SqlFilter::new("length(text) <").err().unwrap();
        assert!(e.contains("does not parse"), "{e}");
        let f = SqlFilter::new("lang_score > 0.8").unwrap();
        let base: Vec<String> = ["id", "text"].map(String::from).to_vec();
        let e = f.output_columns(&base).unwrap_err();
        assert!(e.contains("names lang_score"), "{e}");
        let with: Vec<String> = ["id", "text", "lang_score"].map(String::from).to_vec();
        assert_eq!(f.output_columns(&with).unwrap(), with);
    }

    #[test]
    fn meta_fields_typed_by_their_values() {
        let metas = [
            Some(r#"{"score": 0.9, "src": "a"}"#),
            Some(r#"{"score": 0.1}"#),
            None,
            Some("not json"),
        ];
        let meta: StringArray = metas.iter().copied().collect();
        let cols = meta_columns(&meta, &["score".into(), "src".into(), "none".into()]);
        assert_eq!(cols[0].dtype(), &DataType::Float64);
        assert_eq!(cols[1].dtype(), &DataType::String);
        assert_eq!(cols[2].dtype(), &DataType::Null);
        assert_eq!(cols[0].null_count(), 2);
    }
}

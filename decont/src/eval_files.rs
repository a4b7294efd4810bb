//! Evaluation sets as the index builder reads them: JSONL (`.jsonl`, `.json` lines,
//! `.jsonl.gz`) and Parquet files, one item per record. An item's text is its chosen fields
//! joined by new lines (a list field, such as multiple-choice options, one line per
//! element); its id is the first id field present, else its record number.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::error::DecontError;

/// Which fields make an item.
#[derive(Debug, Clone)]
pub struct Fields {
    pub text: Vec<String>,
    pub id: Vec<String>,
}

/// One evaluation item; `text` is empty when the record has none of the fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub text: String,
}

/// The benchmark name a file gives by default: its name without `.jsonl.gz` and the like.
pub fn benchmark_name(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("eval");
    let mut stem = name;
    for ext in [".gz", ".jsonl", ".json", ".parquet"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    stem.to_string()
}

/// Calls `each` with every item of `path`.
pub fn read_items(
    path: &Path,
    fields: &Fields,
    each: &mut dyn FnMut(Item) -> Result<(), DecontError>,
) -> Result<(), DecontError> {
    let name = path.to_string_lossy();
    if name.ends_with(".parquet") {
        return read_parquet(path, fields, each);
    }
    let f = std::fs::File::open(path).map_err(|e| DecontError::io(path, e))?;
    let r: Box<dyn Read> = match name.ends_with(".gz") {
        true => Box::new(flate2::read::MultiGzDecoder::new(f)),
        false => Box::new(f),
    };
    for (k, line) in BufReader::new(r).lines().enumerate() {
        let line = line.map_err(|e| DecontError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = k as u64 + 1;
        let v: Value = serde_json::from_str(&line).map_err(|e| DecontError::BadRecord {
            path: path.into(),
            record,
            message: format!("not JSON: {e}"),
        })?;
        let text = fields
            .text
            .iter()
            .filter_map(|f| v.get(f).map(json_text))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let id = fields
            .id
            .iter()
            .find_map(|f| v.get(f).map(json_text))
            .unwrap_or_else(|| format!("record {record}"));
        each(Item { id, text })?;
    }
    Ok(())
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn read_parquet(
    path: &Path,
    fields: &Fields,
    each: &mut dyn FnMut(Item) -> Result<(), DecontError>,
) -> Result<(), DecontError> {
    let bad = |m: String| DecontError::BadEvalFile {
        path: path.into(),
        message: m,
    };
    let f = std::fs::File::open(path).map_err(|e| DecontError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let mut record = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let cols = |names: &[String]| -> Vec<usize> {
            names
                .iter()
                .filter_map(|n| batch.schema().index_of(n).ok())
                .collect()
        };
        let (text_cols, id_cols) = (cols(&fields.text), cols(&fields.id));
        for r in 0..batch.num_rows() {
            record += 1;
            let text = text_cols
                .iter()
                .filter_map(|&c| cell(&batch, c, r))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            let id = id_cols
                .iter()
                .find_map(|&c| cell(&batch, c, r))
                .unwrap_or_else(|| format!("record {record}"));
            each(Item { id, text })?;
        }
    }
    Ok(())
}

/// A string or integer cell as text (other types: their display form).
fn cell(batch: &RecordBatch, c: usize, r: usize) -> Option<String> {
    let a = batch.column(c);
    if a.is_null(r) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(r).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(r).to_string(),
        _ => arrow::util::display::array_value_to_string(a, r).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_fields_ids_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("MMLU-dev.jsonl");
        std::fs::write(
            &p,
            "{\"task_id\":\"m/1\",\"question\":\"Q one\",\"choices\":[\"a\",\"b\"]}\n\n{\"question\":\"Q two\"}\n{\"other\":1}\n",
        )
        .unwrap();
        let fields = Fields {
            text: vec!["question".into(), "choices".into()],
            id: vec!["id".into(), "task_id".into()],
        };
        let mut got = vec![];
        read_items(&p, &fields, &mut |i| {
            got.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(benchmark_name(&p), "MMLU-dev");
        assert_eq!(
            got[0],
            Item {
                id: "m/1".into(),
                text: "Q one\na\nb".into()
            }
        );
        assert_eq!(got[1].id, "record 3");
        assert_eq!(got[2].text, "");
        std::fs::write(&p, "{\"question\": \"x\"}\nnot json\n").unwrap();
        let e = read_items(&p, &fields, &mut |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MMLU-dev.jsonl: record 2: not JSON"), "{e}");
    }
}

//! Training text for `sluice tokenizer train`: curated Parquet (a file or a run's `curated/`
//! dir), JSON lines (`.jsonl`, `.jsonl.gz`; the `text` field) or `.txt` files, in name order.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use arrow::array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::TokenizeError;

fn files_under(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), TokenizeError> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| TokenizeError::io(p, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            files_under(&e, out)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// Reads every document text under `paths`; a file of another kind is an error.
pub fn read_texts(paths: &[PathBuf], text_field: &str) -> Result<Vec<String>, TokenizeError> {
    let mut files = Vec::new();
    for p in paths {
        if !p.exists() {
            return Err(TokenizeError::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            ));
        }
        files_under(p, &mut files)?;
    }
    let mut texts = Vec::new();
    for f in files {
        let name = f.to_string_lossy().to_lowercase();
        if name.ends_with(".parquet") {
            let file = std::fs::File::open(&f).map_err(|e| TokenizeError::io(&f, e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.build())
                .map_err(|e| TokenizeError::Arrow {
                    path: f.clone(),
                    message: e.to_string(),
                })?;
            for batch in reader {
                let batch = batch.map_err(|e| TokenizeError::Arrow {
                    path: f.clone(),
                    message: e.to_string(),
                })?;
                let col = pipeline::document::str_column(&batch, text_field).map_err(|e| {
                    TokenizeError::Arrow {
                        path: f.clone(),
                        message: e.to_string(),
                    }
                })?;
                texts.extend(
                    (0..col.len())
                        .filter(|i| !col.is_null(*i))
                        .map(|i| col.value(i).to_string()),
                );
            }
        } else if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") {
            let file = std::fs::File::open(&f).map_err(|e| TokenizeError::io(&f, e))?;
            let reader: Box<dyn BufRead> = if name.ends_with(".gz") {
                Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                    file,
                )))
            } else {
                Box::new(std::io::BufReader::new(file))
            };
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| TokenizeError::io(&f, e))?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                    TokenizeError::Config(format!("{}:{}: {e}", f.display(), i + 1))
                })?;
                match v.get(text_field).and_then(|t| t.as_str()) {
                    Some(t) => texts.push(t.to_string()),
                    None => {
                        return Err(TokenizeError::Config(format!(
                            "{}:{}: no string field '{text_field}'",
                            f.display(),
                            i + 1
                        )))
                    }
                }
            }
        } else if name.ends_with(".txt") {
            texts.push(std::fs::read_to_string(&f).map_err(|e| TokenizeError::io(&f, e))?);
        }
    }
    if texts.is_empty() {
        return Err(TokenizeError::Config(
            "no training text found (.parquet, .jsonl[.gz] or .txt)".into(),
        ));
    }
    Ok(texts)
}

//! Training text for `sluice tokenizer train`: curated Parquet (a file or a run's `curated/`
//! dir), JSON lines (the names the pipeline reads, by [`kind_of`]: `.jsonl`, `.ndjson`,
//! `.json`, plain, `.gz` or `.zst`; the `text` field, read by the pipeline's [`JsonLines`])
//! or `.txt` files, in name order. A line that is not a record
//! with the text field is skipped and counted, not fatal.

use std::path::{Path, PathBuf};

use pipeline::reader::{kind_of, InputKind, JsonLines, Repairs};

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
    let mut skipped = Skipped::default();
    for f in files {
        let kind = kind_of(&f).map(InputKind::name);
        if kind == Some("parquet") {
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
        } else if kind == Some("jsonl") {
            let mut lines = JsonLines::open(f.clone(), f.display().to_string());
            while let Some(r) = lines.next_record(&mut Repairs::default()) {
                match r.map(|(line, v)| {
                    (
                        line,
                        v.get(text_field)
                            .and_then(|t| t.as_str())
                            .map(str::to_string),
                    )
                }) {
                    Ok((_, Some(t))) => texts.push(t),
                    Ok((line, None)) => skipped.note(format!(
                        "{}:{line}: no string field '{text_field}'",
                        f.display()
                    )),
                    Err(q) => skipped.note(q.detail),
                }
            }
        } else if kind == Some("text") {
            texts.push(std::fs::read_to_string(&f).map_err(|e| TokenizeError::io(&f, e))?);
        }
    }
    if let Some(first) = &skipped.first {
        tracing::warn!(
            "skipped {} JSON lines that hold no training text (first: {first})",
            skipped.count
        );
    }
    if texts.is_empty() {
        return Err(TokenizeError::Config(
            "no training text found (.parquet, .jsonl[.gz|.zst] or .txt)".into(),
        ));
    }
    Ok(texts)
}

/// Lines skipped while reading, and the first one's why.
#[derive(Default)]
struct Skipped {
    count: u64,
    first: Option<String>,
}

impl Skipped {
    fn note(&mut self, why: String) {
        self.count += 1;
        self.first.get_or_insert(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.zst` is read, and a line that is not JSON or lacks the text field is skipped, not
    /// fatal (the old reader ignored .zst and stopped at the first bad line).
    #[test]
    fn zstd_lines_with_bad_records_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl.zst");
        let body = "{\"text\": \"one\"}\nnot json\n{\"other\": 1}\n\n{\"text\": \"two\"}\n";
        std::fs::write(&p, zstd::encode_all(body.as_bytes(), 3).unwrap()).unwrap();
        assert_eq!(read_texts(&[p], "text").unwrap(), vec!["one", "two"]);
    }
}

//! Parquet files: the text, id and domain columns are picked by name (any string or integer
//! type is cast to UTF-8); every other column is carried along in `meta` as JSON.

use std::fs::File;
use std::path::PathBuf;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::json::LineDelimitedWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{DocSource, Quarantined, ReadChunk};
use crate::config::InputConfig;
use crate::document::{DocBatchBuilder, Document};
use crate::error::PipelineError;

pub(crate) struct ParquetSource {
    path: PathBuf,
    name: String,
    input: InputConfig,
    batch_size: usize,
    reader: Option<ParquetRecordBatchReader>,
    opened: bool,
    done: bool,
    row: u64,
}

impl ParquetSource {
    pub(crate) fn new(path: PathBuf, name: String, input: InputConfig, batch_size: usize) -> Self {
        ParquetSource {
            path,
            name,
            input,
            batch_size,
            reader: None,
            opened: false,
            done: false,
            row: 0,
        }
    }

    fn bad(&self, reason: &'static str, detail: String) -> Quarantined {
        Quarantined {
            reason,
            detail,
            source: self.name.clone(),
            raw: String::new(),
        }
    }

    /// Opens the file; a file that cannot be used at all becomes one quarantined record.
    fn open(&mut self) -> Result<ParquetRecordBatchReader, Quarantined> {
        let file = File::open(&self.path).map_err(|e| {
            self.bad(
                "unreadable_file",
                format!("{}: cannot open: {e}", self.name),
            )
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            self.bad(
                "unreadable_file",
                format!("{}: not a readable Parquet file: {e}", self.name),
            )
        })?;
        let rows = builder.metadata().file_metadata().num_rows();
        let schema = builder.schema().clone();
        if schema.field_with_name(&self.input.text_field).is_err() {
            let cols: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(self.bad(
                "missing_text_field",
                format!(
                    "{}: no column '{}' ({} rows not read; columns: {}); set text_field",
                    self.name,
                    self.input.text_field,
                    rows,
                    cols.join(", ")
                ),
            ));
        }
        if rows == 0 {
            return Err(self.bad("empty_file", format!("{}: empty file (0 rows)", self.name)));
        }
        builder
            .with_batch_size(self.batch_size)
            .build()
            .map_err(|e| self.bad("unreadable_file", format!("{}: {e}", self.name)))
    }

    fn utf8(&self, batch: &RecordBatch, name: &str) -> Result<Option<StringArray>, String> {
        let Some(col) = batch.column_by_name(name) else {
            return Ok(None);
        };
        let casted = cast(col, &DataType::Utf8).map_err(|e| {
            format!(
                "column '{name}' ({}) cannot be read as text: {e}",
                col.data_type()
            )
        })?;
        Ok(Some(
            casted
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8 gives a StringArray")
                .clone(),
        ))
    }

    /// The columns that are not text/id/domain, one JSON object per row.
    fn meta_rows(&self, batch: &RecordBatch) -> Result<Vec<Option<String>>, String> {
        let keep: Vec<usize> = batch
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                let n = f.name();
                n != &self.input.text_field
                    && n != &self.input.id_field
                    && n != &self.input.domain_field
            })
            .map(|(i, _)| i)
            .collect();
        if keep.is_empty() {
            return Ok(vec![None; batch.num_rows()]);
        }
        let rest = batch.project(&keep).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut w = LineDelimitedWriter::new(&mut buf);
        w.write(&rest).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
        drop(w);
        let text = String::from_utf8(buf).map_err(|e| e.to_string())?;
        let rows: Vec<Option<String>> = text
            .lines()
            .map(|l| (l != "{}").then(|| l.to_string()))
            .collect();
        if rows.len() != batch.num_rows() {
            return Err("metadata columns did not convert row for row".into());
        }
        Ok(rows)
    }

    fn convert(
        &mut self,
        batch: RecordBatch,
        out: &mut DocBatchBuilder,
        bad: &mut Vec<Quarantined>,
    ) -> Result<(), String> {
        let text = self
            .utf8(&batch, &self.input.text_field.clone())?
            .expect("checked at open");
        let id = self.utf8(&batch, &self.input.id_field.clone())?;
        let domain = self.utf8(&batch, &self.input.domain_field.clone())?;
        let meta = self.meta_rows(&batch)?;
        for (i, meta) in meta.into_iter().enumerate() {
            self.row += 1;
            if text.is_null(i) {
                bad.push(self.bad(
                    "missing_text_field",
                    format!(
                        "{}: row {}: '{}' is null",
                        self.name, self.row, self.input.text_field
                    ),
                ));
                continue;
            }
            let id = match &id {
                Some(a) if !a.is_null(i) => a.value(i).to_string(),
                _ => format!("{}:{}", self.name, self.row),
            };
            let domain = match &domain {
                Some(a) if !a.is_null(i) && !a.value(i).is_empty() => a.value(i).to_string(),
                _ => self.input.default_domain.clone(),
            };
            out.push(&Document {
                id,
                text: text.value(i).to_string(),
                source: self.name.clone(),
                domain,
                meta,
            });
        }
        Ok(())
    }
}

impl DocSource for ParquetSource {
    fn next_chunk(&mut self) -> Result<Option<ReadChunk>, PipelineError> {
        if self.done {
            return Ok(None);
        }
        let mut docs = DocBatchBuilder::new();
        let mut bad = Vec::new();
        if !self.opened {
            self.opened = true;
            match self.open() {
                Ok(r) => self.reader = Some(r),
                Err(q) => {
                    self.done = true;
                    bad.push(q);
                    return Ok(Some(ReadChunk {
                        docs: docs.finish(),
                        bad,
                        records: 1,
                        bytes: 0,
                        repairs: Default::default(),
                    }));
                }
            }
        }
        let next = self.reader.as_mut().expect("opened above").next();
        let rows_before = self.row;
        match next {
            None => {
                self.done = true;
                return Ok(None);
            }
            Some(Err(e)) => {
                self.done = true;
                bad.push(self.bad(
                    "truncated_input",
                    format!("{}: unreadable after row {}: {e}", self.name, self.row),
                ));
            }
            Some(Ok(batch)) => {
                let n = batch.num_rows() as u64;
                if let Err(msg) = self.convert(batch, &mut docs, &mut bad) {
                    self.done = true;
                    self.row = rows_before + n;
                    docs = DocBatchBuilder::new();
                    bad.clear();
                    bad.push(self.bad(
                        "unreadable_file",
                        format!(
                            "{}: rows {}..{}: {msg}",
                            self.name,
                            rows_before + 1,
                            rows_before + n
                        ),
                    ));
                }
            }
        }
        let bytes = docs.text_bytes();
        let records = (self.row - rows_before).max(bad.len() as u64);
        Ok(Some(ReadChunk {
            docs: docs.finish(),
            bad,
            records,
            bytes,
            repairs: Default::default(),
        }))
    }
}

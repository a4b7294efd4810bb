//! Parquet files: the text, id and domain columns are picked by name (any string or integer
//! type is cast to UTF-8); every other column is carried along in `meta` as JSON.

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::json::LineDelimitedWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use std::collections::VecDeque;

use super::batcher::{Record, RecordSource};
use super::format::{one_file, Format};
use super::input_file::InputFile;
use super::{Part, Quarantined, ReadLimits, Repairs};
use crate::config::InputConfig;
use crate::document::Document;
use crate::error::PipelineError;

/// Parquet files (`.parquet`): a big one is cut into runs of row groups.
pub(crate) struct ParquetFormat;

impl Format for ParquetFormat {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn detects(&self, name: &str) -> bool {
        name.ends_with(".parquet")
    }

    fn parts(&self, file: &InputFile, size: u64, target: u64) -> Result<Vec<(Part, u64)>, String> {
        Ok(parquet_parts(file, target).unwrap_or_else(|| vec![(Part::Whole, size)]))
    }

    fn open(
        &self,
        files: Vec<(InputFile, String)>,
        part: Part,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Box<dyn RecordSource> {
        let (file, name) = one_file(files);
        let src = ParquetSource::new(file, name, input.clone(), limits);
        Box::new(match part {
            Part::Range { start, end, first } => {
                src.with_row_groups(start as usize, end as usize, first)
            }
            Part::Whole => src,
        })
    }
}

/// A Parquet file as runs of row groups of about `target` compressed bytes; `None` when its
/// footer cannot be read (the reader then quarantines the file as a whole).
pub(super) fn parquet_parts(path: &InputFile, target: u64) -> Option<Vec<(Part, u64)>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(path.parquet_chunks().ok()?).ok()?;
    let meta = reader.metadata();
    let groups = meta.num_row_groups();
    if groups < 2 {
        return None;
    }
    let mut parts = Vec::new();
    let (mut start, mut first_row, mut rows, mut size) = (0u64, 0u64, 0u64, 0u64);
    for g in 0..groups {
        let rg = meta.row_group(g);
        size += rg.compressed_size().max(0) as u64;
        rows += rg.num_rows().max(0) as u64;
        if size >= target || g + 1 == groups {
            let part = Part::Range {
                start,
                end: g as u64 + 1,
                first: first_row,
            };
            parts.push((part, size));
            (start, first_row, size) = (g as u64 + 1, first_row + rows, 0);
            rows = 0;
        }
    }
    Some(parts)
}

pub(crate) struct ParquetSource {
    path: InputFile,
    name: String,
    input: InputConfig,
    limits: ReadLimits,
    /// Row groups `start..end` when the shard is part of the file (else all of them).
    groups: Option<(usize, usize)>,
    /// The file's metadata, read once; each row group gets a reader of its own, so a
    /// damaged one is quarantined and the next is still read.
    meta: Option<ArrowReaderMetadata>,
    /// The row group being read, its reader, and the rows left in it.
    group: usize,
    reader: Option<(ParquetRecordBatchReader, u64)>,
    opened: bool,
    done: bool,
    row: u64,
    /// Records of the Arrow batch read last, not yet returned.
    queue: VecDeque<Record>,
    /// Text bytes of the documents returned.
    bytes: u64,
}

impl ParquetSource {
    pub(crate) fn new(
        path: impl Into<InputFile>,
        name: String,
        input: InputConfig,
        limits: ReadLimits,
    ) -> Self {
        ParquetSource {
            path: path.into(),
            name,
            input,
            limits,
            groups: None,
            meta: None,
            group: 0,
            reader: None,
            opened: false,
            done: false,
            row: 0,
            queue: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Reads only row groups `start..end`, whose first row is row `first_row` of the file.
    /// Damage to the file as a whole is reported by the part that starts at group 0.
    pub(crate) fn with_row_groups(mut self, start: usize, end: usize, first_row: u64) -> Self {
        self.groups = Some((start, end));
        self.group = start;
        self.row = first_row;
        self
    }

    fn bad(&self, reason: &'static str, detail: String) -> Quarantined {
        Quarantined {
            reason,
            detail,
            source: self.name.clone(),
            raw: String::new(),
        }
    }

    /// Reads the file's metadata; a file that cannot be used at all becomes one quarantined
    /// record.
    fn open(&mut self) -> Result<ArrowReaderMetadata, Quarantined> {
        let file = self.path.parquet_chunks().map_err(|e| {
            self.bad(
                "unreadable_file",
                format!("{}: cannot open: {e}", self.name),
            )
        })?;
        let meta = ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| {
            self.bad(
                "unreadable_file",
                format!("{}: not a readable Parquet file: {e}", self.name),
            )
        })?;
        let rows = meta.metadata().file_metadata().num_rows();
        let schema = meta.schema().clone();
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
        Ok(meta)
    }

    /// A reader of row group `g` alone, with its row count. Its batches hold about
    /// `batch_bytes` (from the group's average row size) or `batch_size` rows, whichever is
    /// fewer, so 1 MB documents do not make 1 GB batches.
    fn open_group(&self, g: usize) -> Result<(ParquetRecordBatchReader, u64), String> {
        let meta = self.meta.as_ref().expect("opened");
        let rg = meta.metadata().row_group(g);
        let rows = rg.num_rows().max(0) as u64;
        let file = self
            .path
            .parquet_chunks()
            .map_err(|e| format!("cannot open: {e}"))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
            .with_row_groups(vec![g])
            .with_batch_size(rows_per_batch(&self.limits, rows, rg.total_byte_size()))
            .build()
            .map_err(|e| e.to_string())?;
        Ok((reader, rows))
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

    /// The documents of one Arrow batch, into the queue; rows without text are quarantined.
    fn convert(&mut self, batch: RecordBatch) -> Result<(), String> {
        let text = self
            .utf8(&batch, &self.input.text_field.clone())?
            .expect("checked at open");
        let id = self.utf8(&batch, &self.input.id_field.clone())?;
        let domain = self.utf8(&batch, &self.input.domain_field.clone())?;
        let meta = self.meta_rows(&batch)?;
        let mut out = VecDeque::with_capacity(meta.len());
        let mut row = self.row;
        for (i, meta) in meta.into_iter().enumerate() {
            row += 1;
            if text.is_null(i) {
                out.push_back(Record::bad(self.bad(
                    "missing_text_field",
                    format!(
                        "{}: row {row}: '{}' is null",
                        self.name, self.input.text_field
                    ),
                )));
                continue;
            }
            let id = match &id {
                Some(a) if !a.is_null(i) => a.value(i).to_string(),
                _ => format!("{}:{row}", self.name),
            };
            let domain = match &domain {
                Some(a) if !a.is_null(i) && !a.value(i).is_empty() => a.value(i).to_string(),
                _ => self.input.default_domain.clone(),
            };
            out.push_back(Record::Doc(Document {
                id,
                text: text.value(i).to_string(),
                source: self.name.clone(),
                domain,
                meta,
            }));
        }
        self.row = row;
        self.queue = out;
        Ok(())
    }

    /// Reads on until the queue holds records or the part is done.
    fn fill(&mut self) {
        if !self.opened {
            self.opened = true;
            match self.open() {
                Ok(m) => self.meta = Some(m),
                // Damage to the file as a whole is reported by the part that starts at 0.
                Err(_) if self.groups.is_some_and(|(start, _)| start > 0) => self.done = true,
                Err(q) => {
                    self.done = true;
                    self.queue.push_back(Record::bad(q));
                }
            }
            return;
        }
        if self.reader.is_none() {
            let meta = self.meta.as_ref().expect("opened").metadata();
            let groups = self.groups.map_or(meta.num_row_groups(), |(_, end)| end);
            if self.group >= groups {
                self.done = true;
                return;
            }
            let rows = meta.row_group(self.group).num_rows() as u64;
            match self.open_group(self.group) {
                Ok(r) => self.reader = Some(r),
                Err(msg) => self.lose(rows, &msg),
            }
            return;
        }
        let (reader, left) = self.reader.as_mut().expect("checked above");
        match reader.next() {
            None => {
                self.reader = None;
                self.group += 1;
            }
            Some(Err(e)) => {
                // The rest of this row group cannot be reached; the next one may be.
                let left = *left;
                self.reader = None;
                self.lose(left, &e.to_string());
            }
            Some(Ok(batch)) => {
                let n = batch.num_rows() as u64;
                *left = left.saturating_sub(n);
                let first = self.row + 1;
                if let Err(msg) = self.convert(batch) {
                    // One batch that cannot be converted is quarantined; reading goes on.
                    self.row += n;
                    let detail = format!("{}: rows {first}..{}: {msg}", self.name, self.row);
                    let bad = self.bad("unreadable_file", detail);
                    self.queue.push_back(Record::Bad { bad, records: n });
                }
            }
        }
    }
}

/// Rows per batch for a row group of `rows` rows and `bytes` uncompressed bytes.
pub(crate) fn rows_per_batch(limits: &ReadLimits, rows: u64, bytes: i64) -> usize {
    let per_row = (bytes.max(1) as u64).div_ceil(rows.max(1));
    let by_bytes = (limits.batch_bytes / per_row).max(1);
    (limits.batch_size as u64).min(by_bytes) as usize
}

impl RecordSource for ParquetSource {
    /// Compressed bytes of the row groups read to the end.
    fn consumed(&self) -> u64 {
        let Some(meta) = &self.meta else {
            return 0;
        };
        let start = self.groups.map_or(0, |(start, _)| start);
        (start..self.group)
            .map(|g| meta.metadata().row_group(g).compressed_size().max(0) as u64)
            .sum()
    }

    /// Text bytes of the documents returned.
    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn next_record(&mut self, _: &mut Repairs) -> Result<Option<Record>, PipelineError> {
        loop {
            if let Some(r) = self.queue.pop_front() {
                if let Record::Doc(d) = &r {
                    self.bytes += d.text.len() as u64;
                }
                return Ok(Some(r));
            }
            if self.done {
                return Ok(None);
            }
            self.fill();
        }
    }
}

impl ParquetSource {
    /// `rows` rows of the current row group that cannot be read: one quarantined record that
    /// names them; the reader moves on to the next row group.
    fn lose(&mut self, rows: u64, msg: &str) {
        let first = self.row + 1;
        self.row += rows;
        let detail = format!(
            "{}: row group {}: rows {first}..{} unreadable: {msg}",
            self.name, self.group, self.row
        );
        let bad = self.bad("truncated_input", detail);
        self.queue.push_back(Record::Bad { bad, records: rows });
        self.group += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{str_column, TEXT};
    use crate::reader::jsonl::tests::limits;
    use crate::reader::DocSource;
    use arrow::datatypes::{Field, Schema};
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    /// Three row groups of 100 rows; the middle one's text column is overwritten with junk.
    /// Its rows are quarantined (one record naming them) and the third group is still read.
    #[test]
    fn a_damaged_row_group_is_quarantined_and_the_rest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&p).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        let texts: Vec<String> = (0..300).map(|i| format!("document number {i}")).collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(texts.clone())) as _],
        )
        .unwrap();
        w.write(&batch).unwrap();
        let meta = w.close().unwrap();
        assert_eq!(meta.row_groups().len(), 3);
        let (start, len) = meta.row_groups()[1].columns()[0].byte_range();
        let mut bytes = std::fs::read(&p).unwrap();
        for b in &mut bytes[start as usize + 2..(start + len) as usize] {
            *b = 0xA5;
        }
        std::fs::write(&p, bytes).unwrap();

        let mut input = crate::reader::jsonl::tests::input();
        input.default_domain = "d".into();
        let src = ParquetSource::new(p, "d.parquet".into(), input, limits(64));
        let mut src = crate::reader::Batcher::new(Box::new(src), limits(64));
        let (mut kept, mut bad, mut records) = (vec![], vec![], 0);
        while let Some(c) = src.next_chunk().unwrap() {
            records += c.records;
            let t = str_column(&c.docs, TEXT).unwrap();
            kept.extend((0..t.len()).map(|i| t.value(i).to_string()));
            bad.extend(c.bad);
        }
        assert_eq!(kept[..100], texts[..100]);
        assert_eq!(kept[100..], texts[200..]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0]
                .detail
                .starts_with("d.parquet: row group 1: rows 101..200 unreadable"),
            "{}",
            bad[0].detail
        );
        assert_eq!(records, 300);
    }
}

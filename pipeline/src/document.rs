//! The document model: a batch of documents is an Arrow [`RecordBatch`] with the columns
//! `id`, `text`, `source`, `domain` (all non-null UTF-8) and `meta` (nullable UTF-8 holding a
//! JSON object of the record's other fields). Stages may append columns of their own
//! (`lang`, `lang_score`, ...); these travel to the curated Parquet output.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::StageError;

/// Han ideographs, kana and hangul: scripts written without spaces between words, so every
/// component (word rules, shingles, decontamination n-grams) takes one character as a word.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // hiragana, katakana
        | 0x3400..=0x4DBF // CJK ext A
        | 0x4E00..=0x9FFF // CJK unified
        | 0xAC00..=0xD7AF // hangul syllables
        | 0xF900..=0xFAFF // compatibility ideographs
        | 0x20000..=0x2FA1F // ext B..F, compatibility supplement
    )
}

pub const ID: &str = "id";
pub const TEXT: &str = "text";
pub const SOURCE: &str = "source";
pub const DOMAIN: &str = "domain";
pub const META: &str = "meta";

/// The five columns every document batch starts with.
pub fn base_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(ID, DataType::Utf8, false),
                Field::new(TEXT, DataType::Utf8, false),
                Field::new(SOURCE, DataType::Utf8, false),
                Field::new(DOMAIN, DataType::Utf8, false),
                Field::new(META, DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// One document as a reader produces it, before it joins a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub text: String,
    pub source: String,
    pub domain: String,
    pub meta: Option<String>,
}

/// The most text a batch may hold whatever `run.batch_mb` says: Arrow's 32-bit offsets hold
/// at most 2 GiB of text per column. Readers close a batch at `run.batch_mb` (default 4 MiB),
/// so memory is bounded by bytes, not by documents.
pub const MAX_BATCH_TEXT_BYTES: u64 = 1 << 30;

/// Accumulates [`Document`]s into a base-schema [`RecordBatch`].
#[derive(Default)]
pub struct DocBatchBuilder {
    id: StringBuilder,
    text: StringBuilder,
    source: StringBuilder,
    domain: StringBuilder,
    meta: StringBuilder,
    len: usize,
    text_bytes: u64,
}

impl DocBatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, doc: &Document) {
        self.id.append_value(&doc.id);
        self.text.append_value(&doc.text);
        self.source.append_value(&doc.source);
        self.domain.append_value(&doc.domain);
        self.meta.append_option(doc.meta.as_deref());
        self.len += 1;
        self.text_bytes += doc.text.len() as u64;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch may take another document: under `rows` documents and under `bytes`
    /// (at most [`MAX_BATCH_TEXT_BYTES`]) of text.
    pub fn has_room(&self, rows: usize, bytes: u64) -> bool {
        self.len < rows && self.text_bytes < bytes.min(MAX_BATCH_TEXT_BYTES)
    }

    /// Bytes of text pushed since the last [`finish`](Self::finish).
    pub fn text_bytes(&self) -> u64 {
        self.text_bytes
    }

    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.domain.finish()),
            Arc::new(self.meta.finish()),
        ];
        self.len = 0;
        self.text_bytes = 0;
        RecordBatch::try_new(base_schema(), columns).expect("base schema columns line up")
    }
}

/// The named column of `batch` as a UTF-8 array.
pub fn str_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, StageError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| StageError::MissingColumn(name.to_string()))?;
    col.as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| StageError::ColumnType {
            column: name.to_string(),
            found: col.data_type().to_string(),
            expected: "Utf8",
        })
}

/// `batch` with column `name` set to `array`: replaced where it exists, appended otherwise.
pub fn with_column(
    batch: &RecordBatch,
    name: &str,
    array: ArrayRef,
) -> Result<RecordBatch, StageError> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    let field = Field::new(
        name,
        array.data_type().clone(),
        array.null_count() > 0 || array.is_empty(),
    );
    match schema.index_of(name) {
        Ok(i) => {
            fields[i] = field.with_nullable(fields[i].is_nullable() || array.null_count() > 0);
            cols[i] = array;
        }
        Err(_) => {
            fields.push(field.with_nullable(true));
            cols.push(array);
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// Total UTF-8 bytes of the `text` column (0 if the batch has none).
pub fn text_bytes(batch: &RecordBatch) -> u64 {
    match str_column(batch, TEXT) {
        Ok(a) => (a.value_offsets()[a.len()] - a.value_offsets()[0]) as u64,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_makes_base_schema_batches() {
        let mut b = DocBatchBuilder::new();
        b.push(&Document {
            id: "a".into(),
            text: "héllo 世界".into(),
            source: "f.jsonl".into(),
            domain: "web".into(),
            meta: None,
        });
        assert_eq!(b.text_bytes(), "héllo 世界".len() as u64);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), base_schema());
        assert_eq!(str_column(&batch, TEXT).unwrap().value(0), "héllo 世界");
        assert_eq!(text_bytes(&batch), "héllo 世界".len() as u64);
        assert!(b.is_empty());
        assert!(matches!(
            str_column(&batch, "nope"),
            Err(StageError::MissingColumn(_))
        ));
    }
}

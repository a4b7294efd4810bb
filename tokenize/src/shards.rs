//! Arrow IPC file shards of packed rows, one directory per domain:
//! `shards/<domain>/part-NNNNN.arrow` with columns `input_ids` (FixedSizeList<UInt32> of
//! `row_len`), `domain` (Utf8), `doc_starts` (List<UInt32>, offsets of document starts in the
//! row) and `valid_len` (UInt32). Files are written under `.tmp` names and renamed when closed;
//! each one's size and SHA-256 (hashed as it is written) go into its manifest entry.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, ListBuilder, RecordBatch, StringArray, UInt32Array, UInt32Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::writer::FileWriter;

use pipeline::durable::WritebackFile;

use crate::error::TokenizeError;
use crate::manifest::ShardEntry;
use crate::packer::PackedRow;

/// A writer that hashes (SHA-256) and counts what passes through it.
struct Hashed<W> {
    inner: W,
    sha: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashed<W> {
    fn new(inner: W) -> Self {
        Hashed {
            inner,
            sha: sha2::Digest::new(),
            bytes: 0,
        }
    }
    /// (the inner writer, bytes written, their SHA-256 as lower-case hex).
    fn finish(self) -> (W, u64, String) {
        let digest = sha2::Digest::finalize(self.sha);
        (self.inner, self.bytes, feed::manifest::hex(&digest))
    }
}

pub fn row_schema(row_len: usize) -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::UInt32, false));
    Arc::new(Schema::new(vec![
        Field::new(
            "input_ids",
            DataType::FixedSizeList(item, row_len as i32),
            false,
        ),
        Field::new("domain", DataType::Utf8, false),
        Field::new(
            "doc_starts",
            DataType::List(Arc::new(Field::new("item", DataType::UInt32, true))),
            false,
        ),
        Field::new("valid_len", DataType::UInt32, false),
    ]))
}

/// A directory name for a domain label: letters, digits, `-`, `_`, `.` kept, others `_`. A
/// label that had to be changed gets the first 8 hex digits of its xxh3 hash appended, so two
/// labels that sanitise alike (`news/en`, `news_en`) never share a directory.
pub fn domain_dir_name(domain: &str) -> String {
    let s: String = domain
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    };
    if s == domain {
        s
    } else {
        let h = xxhash_rust::xxh3::xxh3_64(domain.as_bytes());
        format!("{s}-{:08x}", h >> 32)
    }
}

const BATCH_ROWS: usize = 1024;

pub struct DomainShardWriter {
    out_root: PathBuf,
    rel_dir: String,
    domain: String,
    row_len: usize,
    rows_per_shard: u64,
    schema: SchemaRef,
    part: usize,
    writer: Option<(FileWriter<Hashed<BufWriter<WritebackFile>>>, PathBuf)>,
    rows_in_part: u64,
    tokens_in_part: u64,
    pending: Vec<PackedRow>,
    pub shards: Vec<ShardEntry>,
}

impl DomainShardWriter {
    pub fn new(out_root: &Path, domain: &str, row_len: usize, rows_per_shard: u64) -> Self {
        DomainShardWriter {
            out_root: out_root.to_path_buf(),
            rel_dir: format!("shards/{}", domain_dir_name(domain)),
            domain: domain.to_string(),
            row_len,
            rows_per_shard: rows_per_shard.max(1),
            schema: row_schema(row_len),
            part: 0,
            writer: None,
            rows_in_part: 0,
            tokens_in_part: 0,
            pending: Vec::new(),
            shards: Vec::new(),
        }
    }

    pub fn push(&mut self, row: PackedRow) -> Result<(), TokenizeError> {
        self.pending.push(row);
        let room = (self.rows_per_shard - self.rows_in_part) as usize;
        if self.pending.len() >= BATCH_ROWS.min(room) {
            self.flush()?;
        }
        Ok(())
    }

    fn rel_path(&self) -> String {
        format!("{}/part-{:05}.arrow", self.rel_dir, self.part)
    }

    fn flush(&mut self) -> Result<(), TokenizeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        if self.writer.is_none() {
            let path = self.out_root.join(self.rel_path());
            std::fs::create_dir_all(path.parent().expect("has a parent"))
                .map_err(|e| TokenizeError::io(&path, e))?;
            let tmp = pipeline::writer::tmp_path(&path);
            let f = WritebackFile::create(&tmp).map_err(|e| TokenizeError::io(&tmp, e))?;
            let w = FileWriter::try_new(Hashed::new(BufWriter::new(f)), &self.schema)
                .map_err(|e| self.arrow_err(&path, e))?;
            self.writer = Some((w, path));
        }
        let batch = self.batch(&rows)?;
        let (w, path) = self.writer.as_mut().expect("opened above");
        w.write(&batch).map_err(|e| TokenizeError::Arrow {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.rows_in_part += rows.len() as u64;
        self.tokens_in_part += rows.iter().map(|r| r.valid_len as u64).sum::<u64>();
        if self.rows_in_part >= self.rows_per_shard {
            self.close_part()?;
        }
        Ok(())
    }

    fn arrow_err(&self, path: &Path, e: arrow::error::ArrowError) -> TokenizeError {
        TokenizeError::Arrow {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    fn batch(&self, rows: &[PackedRow]) -> Result<RecordBatch, TokenizeError> {
        let mut ids = Vec::with_capacity(rows.len() * self.row_len);
        let mut starts = ListBuilder::new(UInt32Builder::new());
        for r in rows {
            ids.extend_from_slice(&r.ids);
            starts.values().append_slice(&r.doc_starts);
            starts.append(true);
        }
        let item = Arc::new(Field::new("item", DataType::UInt32, false));
        let input_ids = FixedSizeListArray::try_new(
            item,
            self.row_len as i32,
            Arc::new(UInt32Array::from(ids)),
            None,
        )
        .map_err(|e| self.arrow_err(Path::new(&self.rel_dir), e))?;
        let starts = starts.finish();
        // Rebuild the list with the schema's (nullable) item field.
        let starts = arrow::array::ListArray::try_new(
            Arc::new(Field::new("item", DataType::UInt32, true)),
            OffsetBuffer::new(starts.offsets().inner().clone()),
            starts.values().clone(),
            None,
        )
        .map_err(|e| self.arrow_err(Path::new(&self.rel_dir), e))?;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(input_ids),
            Arc::new(StringArray::from(vec![self.domain.as_str(); rows.len()])),
            Arc::new(starts),
            Arc::new(UInt32Array::from(
                rows.iter().map(|r| r.valid_len).collect::<Vec<_>>(),
            )),
        ];
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| self.arrow_err(Path::new(&self.rel_dir), e))
    }

    fn close_part(&mut self) -> Result<(), TokenizeError> {
        if let Some((mut w, path)) = self.writer.take() {
            w.finish().map_err(|e| self.arrow_err(&path, e))?;
            let hashed = w.into_inner().map_err(|e| self.arrow_err(&path, e))?;
            let (inner, bytes, sha256) = hashed.finish();
            let f = inner
                .into_inner()
                .map_err(|e| TokenizeError::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| TokenizeError::io(&path, e))?;
            pipeline::durable::commit(&pipeline::writer::tmp_path(&path), &path)
                .map_err(|e| TokenizeError::io(&path, e))?;
            self.shards.push(ShardEntry {
                path: self.rel_path(),
                rows: self.rows_in_part,
                tokens: self.tokens_in_part,
                bytes: Some(bytes),
                sha256: Some(sha256),
            });
            self.part += 1;
            self.rows_in_part = 0;
            self.tokens_in_part = 0;
        }
        Ok(())
    }

    /// Writes what is pending and closes the last part.
    pub fn finish(mut self) -> Result<Vec<ShardEntry>, TokenizeError> {
        self.flush()?;
        self.close_part()?;
        Ok(self.shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// Each manifest entry carries its file's size and SHA-256 (what a reader fetching the
    /// shard from a bucket checks).
    #[test]
    fn entries_carry_the_size_and_sha256_of_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DomainShardWriter::new(dir.path(), "web", 4, 3);
        for i in 0..7u32 {
            let row = PackedRow {
                ids: vec![i; 4],
                doc_starts: vec![0],
                valid_len: 4,
            };
            w.push(row).unwrap();
        }
        let shards = w.finish().unwrap();
        assert_eq!(shards.len(), 3);
        for s in &shards {
            let bytes = std::fs::read(dir.path().join(&s.path)).unwrap();
            let hex: String = (sha2::Sha256::digest(&bytes).iter())
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(s.bytes, Some(bytes.len() as u64));
            assert_eq!(s.sha256.as_deref(), Some(hex.as_str()));
        }
    }
}

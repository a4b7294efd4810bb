//! Writers. Every file goes to `NAME.tmp` first and is renamed into place only when the whole
//! shard is done (see [`PendingFiles`]), so a crash never leaves a partial file under its
//! final name.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::compute::{filter_record_batch, not};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::LineDelimitedWriter;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::config::IntermediateCodec;
use crate::document::{str_column, DOMAIN, ID, META, SOURCE, TEXT};
use crate::error::{PipelineError, StageError};
use crate::reader::Quarantined;
use crate::stage::{FinishPart, StageOutput};

pub use crate::durable::tmp_path;
use crate::durable::WritebackFile;

/// A row group is flushed at 64K rows or at this many bytes, whichever comes first, so a
/// writer's memory does not grow with the document size (at 20 KB per document, 64K rows
/// would buffer 1.3 GB).
pub const MAX_ROW_GROUP_BYTES: usize = 64 << 20;

fn props(compression: Compression) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(64 * 1024))
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .build()
}

/// Files written under temporary names, renamed into place together by [`commit`](Self::commit).
#[derive(Default)]
pub struct PendingFiles {
    files: Vec<PathBuf>,
}

impl PendingFiles {
    pub fn push(&mut self, final_path: PathBuf) {
        self.files.push(final_path);
    }

    /// Puts every `X.tmp` in place as `X`, durably ([`crate::durable::commit`]).
    pub fn commit(self) -> Result<(), PipelineError> {
        for f in self.files {
            let tmp = tmp_path(&f);
            crate::durable::commit(&tmp, &f).map_err(|e| PipelineError::io(&tmp, e))?;
        }
        Ok(())
    }
}

fn create_tmp(path: &Path) -> Result<WritebackFile, PipelineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    }
    let tmp = tmp_path(path);
    WritebackFile::create(&tmp).map_err(|e| PipelineError::io(&tmp, e))
}

/// A Parquet file created on the first non-empty batch (a shard with no rows writes nothing).
pub struct ParquetSink {
    path: PathBuf,
    writer: Option<ArrowWriter<WritebackFile>>,
    compression: Compression,
}

impl ParquetSink {
    /// An output file: zstd level 3.
    pub fn new(path: PathBuf) -> Self {
        let zstd3 = Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level"));
        ParquetSink {
            path,
            writer: None,
            compression: zstd3,
        }
    }

    /// A file the next phase of the run reads back, written with `codec` (never zstd: on
    /// the scale bench's documents zstd-3 spent a sixth of a run with both dedups
    /// compressing these files).
    pub fn intermediate(path: PathBuf, codec: IntermediateCodec) -> Self {
        let compression = match codec {
            IntermediateCodec::None => Compression::UNCOMPRESSED,
            IntermediateCodec::Lz4 => Compression::LZ4_RAW,
        };
        ParquetSink {
            compression,
            ..ParquetSink::new(path)
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), PipelineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let pq_err = |source| PipelineError::Parquet {
            path: self.path.clone(),
            source,
        };
        if self.writer.is_none() {
            let file = create_tmp(&self.path)?;
            self.writer = Some(
                ArrowWriter::try_new(file, batch.schema(), Some(props(self.compression)))
                    .map_err(pq_err)?,
            );
        }
        let w = self.writer.as_mut().expect("created above");
        w.write(batch).map_err(|source| PipelineError::Parquet {
            path: self.path.clone(),
            source,
        })?;
        Ok(())
    }

    /// Closes the temporary file and queues its rename.
    pub fn finish(self, pending: &mut PendingFiles) -> Result<(), PipelineError> {
        if let Some(w) = self.writer {
            let file = w.into_inner().map_err(|source| PipelineError::Parquet {
                path: self.path.clone(),
                source,
            })?;
            file.sync_all()
                .map_err(|e| PipelineError::io(&self.path, e))?;
            pending.push(self.path);
        }
        Ok(())
    }
}

/// Where a [`FinishPart`] writes: a buffered temporary file whose write errors name it.
pub struct PartWriter {
    tmp: PathBuf,
    w: BufWriter<WritebackFile>,
}

impl PartWriter {
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), StageError> {
        self.w.write_all(bytes).map_err(|source| StageError::Io {
            path: self.tmp.clone(),
            source,
        })
    }
}

/// A finish step's share of one shard ([`FinishPart`]), written to `NAME.tmp` and committed
/// with the shard; no file when the shard curated no documents.
pub struct PartSink {
    step: String,
    path: PathBuf,
    part: Box<dyn FinishPart>,
    out: Option<PartWriter>,
}

impl PartSink {
    /// `step`: the finish step's name, for errors.
    pub fn new(step: &str, path: PathBuf, part: Box<dyn FinishPart>) -> Self {
        PartSink {
            step: step.to_string(),
            path,
            part,
            out: None,
        }
    }

    pub fn step(&self) -> &str {
        &self.step
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.out.is_none() {
            let f = create_tmp(&self.path).map_err(|e| match e {
                PipelineError::Io { path, source } => StageError::Io { path, source },
                other => StageError::Internal(other.to_string()),
            })?;
            let (tmp, w) = (tmp_path(&self.path), BufWriter::with_capacity(1 << 20, f));
            self.out = Some(PartWriter { tmp, w });
        }
        self.part
            .observe(batch, self.out.as_mut().expect("created above"))
    }

    /// Lets the part write its end, syncs the file and queues its rename.
    pub fn finish(self, pending: &mut PendingFiles) -> Result<(), StageError> {
        let Some(mut out) = self.out else {
            return Ok(());
        };
        self.part.finish(&mut out)?;
        let io = |source| StageError::Io {
            path: out.tmp.clone(),
            source,
        };
        let file = out.w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        pending.push(self.path);
        Ok(())
    }
}

/// Curated documents as JSON lines (optional, beside the Parquet files).
pub struct JsonlSink {
    path: PathBuf,
    writer: Option<LineDelimitedWriter<BufWriter<WritebackFile>>>,
}

impl JsonlSink {
    pub fn new(path: PathBuf) -> Self {
        JsonlSink { path, writer: None }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), PipelineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            let f = create_tmp(&self.path)?;
            self.writer = Some(LineDelimitedWriter::new(BufWriter::new(f)));
        }
        let w = self.writer.as_mut().expect("created above");
        w.write(batch).map_err(|source| PipelineError::Arrow {
            path: self.path.clone(),
            source,
        })
    }

    pub fn finish(self, pending: &mut PendingFiles) -> Result<(), PipelineError> {
        if let Some(mut w) = self.writer {
            w.finish().map_err(|source| PipelineError::Arrow {
                path: self.path.clone(),
                source,
            })?;
            let mut buf = w.into_inner();
            buf.flush().map_err(|e| PipelineError::io(&self.path, e))?;
            pending.push(self.path);
        }
        Ok(())
    }
}

/// Schema of `OUT/rejected/*.parquet`: the document, the stage that dropped it, the reason
/// code and a detail (file and line for quarantined input).
pub fn rejected_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(ID, DataType::Utf8, false),
                Field::new(TEXT, DataType::Utf8, false),
                Field::new(SOURCE, DataType::Utf8, false),
                Field::new(DOMAIN, DataType::Utf8, false),
                Field::new(META, DataType::Utf8, true),
                Field::new("stage", DataType::Utf8, false),
                Field::new("reason", DataType::Utf8, false),
                Field::new("detail", DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// Rejected and quarantined documents of one shard and phase.
pub struct RejectSink {
    inner: Option<ParquetSink>,
}

impl RejectSink {
    /// `path: None` drops rejects (output.rejected = false); they are still counted.
    pub fn new(path: Option<PathBuf>) -> Self {
        RejectSink {
            inner: path.map(ParquetSink::new),
        }
    }

    pub fn quarantine(&mut self, bad: &[Quarantined]) -> Result<(), PipelineError> {
        let Some(sink) = &mut self.inner else {
            return Ok(());
        };
        if bad.is_empty() {
            return Ok(());
        }
        let col = |f: &dyn Fn(&Quarantined) -> Option<&str>| -> ArrayRef {
            Arc::new(bad.iter().map(f).collect::<StringArray>())
        };
        let batch = RecordBatch::try_new(
            rejected_schema(),
            vec![
                col(&|q| Some(q.detail.split(": ").next().unwrap_or(&q.source))),
                col(&|q| Some(q.raw.as_str())),
                col(&|q| Some(q.source.as_str())),
                col(&|_| Some("")),
                col(&|_| None),
                col(&|_| Some("read")),
                col(&|q| Some(q.reason)),
                col(&|q| Some(q.detail.as_str())),
            ],
        )
        .expect("rejected schema columns line up");
        sink.write(&batch)
    }

    /// Writes the rows `out` rejects, tagged with the stage name.
    pub fn stage_rejects(&mut self, stage: &str, out: &StageOutput) -> Result<(), PipelineError> {
        let Some(sink) = &mut self.inner else {
            return Ok(());
        };
        let arrow_err = |source| PipelineError::Arrow {
            path: sink.path.clone(),
            source,
        };
        let dropped = not(&out.keep).map_err(arrow_err)?;
        if dropped.true_count() == 0 {
            return Ok(());
        }
        let rows = filter_record_batch(&out.batch, &dropped).map_err(arrow_err)?;
        let n = rows.num_rows();
        let pick = |name: &str| -> Result<ArrayRef, PipelineError> {
            str_column(&rows, name)
                .map(|a| Arc::new(a.clone()) as ArrayRef)
                .map_err(|e| PipelineError::Stage {
                    stage: stage.to_string(),
                    shard: 0,
                    source: e,
                })
        };
        let reason = arrow::compute::filter(&out.reason, &dropped).map_err(arrow_err)?;
        let detail = arrow::compute::filter(&out.detail, &dropped).map_err(arrow_err)?;
        let batch = RecordBatch::try_new(
            rejected_schema(),
            vec![
                pick(ID)?,
                pick(TEXT)?,
                pick(SOURCE)?,
                pick(DOMAIN)?,
                pick(META)?,
                Arc::new(StringArray::from(vec![stage; n])),
                reason,
                detail,
            ],
        )
        .map_err(arrow_err)?;
        sink.write(&batch)
    }

    pub fn finish(self, pending: &mut PendingFiles) -> Result<(), PipelineError> {
        match self.inner {
            Some(s) => s.finish(pending),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{DocBatchBuilder, Document};
    use std::fs::File;

    /// 200 documents of 1 MB (text that neither dictionary encoding nor zstd can shrink
    /// much): row groups close by bytes, not only at 64K rows.
    #[test]
    fn row_groups_are_bounded_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.parquet");
        let mut sink = ParquetSink::new(path.clone());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut doc = || {
            let mut t = String::with_capacity(1 << 20);
            while t.len() < 1 << 20 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                t.push_str(&format!("{:x} ", state));
            }
            t
        };
        for chunk in 0..20 {
            let mut b = DocBatchBuilder::new();
            for i in 0..10 {
                b.push(&Document {
                    id: format!("{chunk}-{i}"),
                    text: doc(),
                    source: "s".into(),
                    domain: "d".into(),
                    meta: None,
                });
            }
            sink.write(&b.finish()).unwrap();
        }
        let mut pending = PendingFiles::default();
        sink.finish(&mut pending).unwrap();
        pending.commit().unwrap();
        let reader =
            parquet::file::reader::SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let groups = parquet::file::reader::FileReader::metadata(&reader).num_row_groups();
        assert!(groups >= 2, "{groups} row groups for 200 MB");
    }

    /// Outputs are zstd; the files the next phase reads back are as the run asks
    /// (uncompressed or LZ4).
    #[test]
    fn outputs_are_zstd_and_intermediates_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = DocBatchBuilder::new();
        b.push(&Document {
            id: "a".into(),
            text: "some text ".repeat(100),
            source: "s".into(),
            domain: "d".into(),
            meta: None,
        });
        let batch = b.finish();
        for (mut sink, codec) in [
            (ParquetSink::new(dir.path().join("out.parquet")), "ZSTD"),
            (
                ParquetSink::intermediate(dir.path().join("mid.parquet"), IntermediateCodec::Lz4),
                "LZ4_RAW",
            ),
            (
                ParquetSink::intermediate(dir.path().join("raw.parquet"), IntermediateCodec::None),
                "UNCOMPRESSED",
            ),
        ] {
            let path = sink.path.clone();
            sink.write(&batch).unwrap();
            let mut pending = PendingFiles::default();
            sink.finish(&mut pending).unwrap();
            pending.commit().unwrap();
            let reader =
                parquet::file::reader::SerializedFileReader::new(File::open(&path).unwrap())
                    .unwrap();
            let meta = parquet::file::reader::FileReader::metadata(&reader);
            for col in meta.row_group(0).columns() {
                assert!(
                    format!("{:?}", col.compression()).starts_with(codec),
                    "{path:?}"
                );
            }
        }
    }
}

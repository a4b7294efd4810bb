//! The packed token shards, memory-mapped: each Arrow IPC file is mapped once and its
//! record batches are decoded in place (the `input_ids` values are the mapped bytes, no
//! copy). Rows are addressed as (domain, row) and split into train and validation rows
//! deterministically.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::FeedError;
use crate::manifest::Manifest;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, FixedSizeListArray, ListArray, RecordBatch, UInt32Array};
use arrow_buffer::Buffer;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use arrow_ipc::{convert::try_fb_to_schema, root_as_footer, root_as_message};

/// One decoded batch of a shard file, pointing into the mapping.
struct MappedBatch {
    ids: UInt32Array,
    doc_starts: ListArray,
    valid_len: UInt32Array,
}

/// All rows of one domain.
pub struct DomainRows {
    pub name: String,
    batches: Vec<MappedBatch>,
    /// `starts[i]` = first row of batch i; last = total rows.
    starts: Vec<usize>,
    /// Rows used for training / validation (indices into this domain's rows).
    pub train: Vec<u32>,
    pub val: Vec<u32>,
    pub tokens: u64,
}

/// A row: `row_len` token ids, where documents start, and how many tokens are real.
pub struct Row<'a> {
    pub ids: &'a [u32],
    pub doc_starts: Vec<u32>,
    pub valid_len: usize,
}

impl DomainRows {
    pub fn rows(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    /// (batch, row within it) of row `r`.
    fn locate(&self, r: usize) -> (usize, usize) {
        let b = self.starts.partition_point(|&s| s <= r) - 1;
        (b, r - self.starts[b])
    }

    /// Real tokens of row `r` (without decoding its document starts).
    pub fn valid_len(&self, r: usize) -> usize {
        let (b, local) = self.locate(r);
        self.batches[b].valid_len.value(local) as usize
    }

    pub fn row(&self, r: usize, row_len: usize) -> Row<'_> {
        let (b, local) = self.locate(r);
        let mb = &self.batches[b];
        let vals = mb.ids.values();
        let ds = mb.doc_starts.value(local);
        let ds = ds.as_primitive::<UInt32Type>();
        Row {
            ids: &vals[local * row_len..(local + 1) * row_len],
            doc_starts: ds.values().to_vec(),
            valid_len: mb.valid_len.value(local) as usize,
        }
    }
}

/// The shard set of one manifest.
pub struct ShardSet {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub row_len: usize,
    pub domains: Vec<DomainRows>,
}

fn map_file(path: &Path) -> Result<Buffer, FeedError> {
    let f = File::open(path).map_err(|e| FeedError::io(path, e))?;
    // SAFETY: shards are written once under a temporary name and renamed; nothing writes
    // to a finished shard while it is mapped.
    let mmap = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| FeedError::io(path, e))?;
    let len = mmap.len();
    if len < 10 {
        return Err(FeedError::data(path, "too short to be an Arrow IPC file"));
    }
    let ptr = NonNull::new(mmap.as_ptr() as *mut u8).expect("mmap is non-null");
    // SAFETY: the buffer keeps the mapping alive through `owner`.
    Ok(unsafe { Buffer::from_custom_allocation(ptr, len, Arc::new(mmap)) })
}

/// Checks a record batch message against its block before arrow decodes it (arrow's decoder
/// panics on a buffer that points past the body): the body it declares and every buffer fit.
fn check_message(meta: &[u8], body: i64) -> Result<(), String> {
    let (len_at, fb_at) = if meta.starts_with(&[0xFF; 4]) {
        (4, 8)
    } else {
        (0, 4)
    };
    let len = meta
        .get(len_at..len_at + 4)
        .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or("metadata cut short")?;
    let fb = usize::try_from(len)
        .ok()
        .and_then(|n| meta.get(fb_at..fb_at + n))
        .ok_or("metadata length outside its block")?;
    let msg = root_as_message(fb).map_err(|e| format!("bad message: {e}"))?;
    if msg.bodyLength() > body {
        return Err(format!(
            "body of {} bytes, its block has {body}",
            msg.bodyLength()
        ));
    }
    let rb = msg
        .header_as_record_batch()
        .ok_or("not a record batch message")?;
    for b in rb.buffers().into_iter().flatten() {
        let end = b.offset().checked_add(b.length());
        if b.offset() < 0 || b.length() < 0 || end.is_none_or(|e| e > body) {
            return Err(format!(
                "a buffer (offset {}, {} bytes) lies outside the body",
                b.offset(),
                b.length()
            ));
        }
    }
    Ok(())
}

fn decode(path: &Path, row_len: usize) -> Result<Vec<MappedBatch>, FeedError> {
    let buf = map_file(path)?;
    let bad = |m: String| FeedError::data(path, m);
    let tail: [u8; 10] = buf[buf.len() - 10..].try_into().unwrap();
    let footer_len =
        read_footer_length(tail).map_err(|e| bad(format!("not an Arrow IPC file: {e}")))?;
    let footer_start = buf
        .len()
        .checked_sub(10 + footer_len)
        .ok_or_else(|| bad("footer longer than the file".into()))?;
    let footer = root_as_footer(&buf[footer_start..buf.len() - 10])
        .map_err(|e| bad(format!("bad footer: {e}")))?;
    let schema = Arc::new(
        try_fb_to_schema(footer.schema().ok_or_else(|| bad("no schema".into()))?)
            .map_err(|e| bad(format!("bad schema: {e}")))?,
    );
    let decoder = FileDecoder::new(schema, footer.version());
    let mut out = vec![];
    for block in footer.recordBatches().into_iter().flatten() {
        // A corrupt footer may point anywhere: check before slicing (which would panic).
        let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let end = u64::try_from(offset)
            .ok()
            .zip(u64::try_from(meta).ok())
            .zip(u64::try_from(body).ok())
            .and_then(|((o, m), b)| o.checked_add(m)?.checked_add(b));
        if end.is_none_or(|e| e > footer_start as u64) || meta < 8 {
            return Err(bad(format!(
                "a record batch block (offset {offset}, {meta} + {body} bytes) lies outside the file"
            )));
        }
        check_message(&buf[offset as usize..offset as usize + meta as usize], body)
            .map_err(|m| bad(format!("record batch at offset {offset}: {m}")))?;
        let len = body as usize + meta as usize;
        let data = buf.slice_with_length(offset as usize, len);
        let batch: RecordBatch = decoder
            .read_record_batch(block, &data)
            .map_err(|e| bad(format!("record batch: {e}")))?
            .ok_or_else(|| bad("empty record batch block".into()))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(format!("missing column `{name}`")))
        };
        let ids = col("input_ids")?;
        let ids = ids
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or_else(|| bad("`input_ids` is not a FixedSizeList".into()))?;
        if ids.value_length() as usize != row_len {
            return Err(bad(format!(
                "rows of {} tokens, the manifest says {row_len}",
                ids.value_length()
            )));
        }
        let values = ids
            .values()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| bad("`input_ids` items are not UInt32".into()))?
            .slice(ids.offset() * row_len, ids.len() * row_len);
        let doc_starts = col("doc_starts")?
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or_else(|| bad("`doc_starts` is not a List".into()))?
            .clone();
        let valid_len = col("valid_len")?
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| bad("`valid_len` is not UInt32".into()))?
            .clone();
        out.push(MappedBatch {
            ids: values,
            doc_starts,
            valid_len,
        });
    }
    Ok(out)
}

/// (train, val) rows of a domain with `n` rows: every k-th row held out for `val_fraction`
/// (at least one when there are two or more); all rows are validation rows for `None`.
fn split_rows(n: usize, val_fraction: Option<f64>) -> (Vec<u32>, Vec<u32>) {
    let Some(val_fraction) = val_fraction else {
        return (vec![], (0..n as u32).collect());
    };
    let stride = if val_fraction > 0.0 {
        (1.0 / val_fraction).round().max(2.0) as usize
    } else {
        usize::MAX
    };
    let (mut train, mut val) = (vec![], vec![]);
    for r in 0..n as u32 {
        if n >= 2 && (r as usize) % stride == stride - 1 {
            val.push(r);
        } else {
            train.push(r);
        }
    }
    if n >= 2 && val.is_empty() && val_fraction > 0.0 {
        val.push(train.pop().unwrap());
    }
    (train, val)
}

impl ShardSet {
    /// Opens `manifest.json` and maps every shard. `val_fraction` of each domain's rows
    /// (every k-th row, at least one when the domain has two or more) is held out.
    pub fn open(manifest_path: &Path, val_fraction: f64) -> Result<Self, FeedError> {
        Self::open_split(manifest_path, Some(val_fraction))
    }

    /// Opens a manifest packed from a held-out set: every row is a validation row.
    pub fn open_eval(manifest_path: &Path) -> Result<Self, FeedError> {
        Self::open_split(manifest_path, None)
    }

    fn open_split(manifest_path: &Path, val_fraction: Option<f64>) -> Result<Self, FeedError> {
        let manifest = Manifest::read(manifest_path)?;
        let dir = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let row_len = manifest.row_len as usize;
        let mut domains = vec![];
        for (name, d) in &manifest.domains {
            let mut batches = vec![];
            let mut starts = vec![0usize];
            for s in &d.shards {
                let p = dir.join(&s.path);
                for b in decode(&p, row_len)? {
                    starts.push(starts.last().unwrap() + b.valid_len.len());
                    batches.push(b);
                }
            }
            let n = *starts.last().unwrap();
            if n as u64 != d.rows {
                return Err(FeedError::data(
                    manifest_path,
                    format!(
                        "domain {name}: the shards hold {n} rows, the manifest says {}",
                        d.rows
                    ),
                ));
            }
            let (train, val) = split_rows(n, val_fraction);
            domains.push(DomainRows {
                name: name.clone(),
                batches,
                starts,
                train,
                val,
                tokens: d.tokens,
            });
        }
        // A training set needs domains with training rows; an eval set, with any rows.
        let eval = val_fraction.is_none();
        domains.retain(|d| !(if eval { &d.val } else { &d.train }).is_empty());
        if domains.is_empty() {
            return Err(FeedError::data(
                manifest_path,
                if eval {
                    "no domain has rows"
                } else {
                    "no domain has training rows"
                },
            ));
        }
        Ok(ShardSet {
            manifest,
            dir,
            row_len,
            domains,
        })
    }

    pub fn seq_len(&self) -> usize {
        self.row_len - 1
    }

    pub fn vocab_size(&self) -> usize {
        self.manifest.tokenizer.vocab_size as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenize::shards::DomainShardWriter;
    use tokenize::PackedRow;

    /// Whatever byte of a shard's footer is damaged, decoding returns (an error or rows) and
    /// never panics.
    #[test]
    fn a_damaged_footer_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DomainShardWriter::new(dir.path(), "d", 5, 100);
        for i in 0..10u32 {
            w.push(PackedRow {
                ids: vec![i; 5],
                doc_starts: vec![0],
                valid_len: 5,
            })
            .unwrap();
        }
        let shards = w.finish().unwrap();
        let path = dir.path().join(&shards[0].path);
        let good = std::fs::read(&path).unwrap();
        assert_eq!(decode(&path, 5).unwrap().len(), 1);
        let bad = dir.path().join("bad.arrow");
        let footer_region = good.len().saturating_sub(400)..good.len();
        let mut errors = 0;
        for i in footer_region {
            for v in [0x00u8, 0x7F, 0xFF] {
                let mut b = good.clone();
                b[i] = v;
                std::fs::write(&bad, &b).unwrap();
                let r = std::panic::catch_unwind(|| decode(&bad, 5).map(|v| v.len()));
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => errors += 1,
                    Err(_) => panic!("decoding panicked with byte {i} set to {v:#x}"),
                }
            }
        }
        assert!(errors > 0);
    }
}

//! One packed token shard file, memory-mapped: the Arrow IPC file is mapped once and its
//! record batches are decoded in place (the `input_ids` values are the mapped bytes, no
//! copy). Every block the footer names is checked before arrow decodes it, so a damaged file
//! is an error naming it, never a panic.

use std::fs::File;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::FeedError;
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

/// A decoded shard file: its batches (pointing into the mapping) and their first rows.
pub struct Shard {
    batches: Vec<MappedBatch>,
    /// `starts[i]` = first row of batch i; last = total rows.
    starts: Vec<usize>,
    row_len: usize,
}

impl Shard {
    /// Maps and decodes the shard at `path`, whose rows hold `row_len` tokens.
    pub fn open(path: &Path, row_len: usize) -> Result<Shard, FeedError> {
        let batches = decode(path, row_len)?;
        let mut starts = vec![0usize];
        for b in &batches {
            starts.push(starts.last().unwrap() + b.valid_len.len());
        }
        Ok(Shard {
            batches,
            starts,
            row_len,
        })
    }

    pub fn rows(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    /// (batch, row within it) of row `r`.
    fn locate(&self, r: usize) -> (usize, usize) {
        let b = self.starts.partition_point(|&s| s <= r) - 1;
        (b, r - self.starts[b])
    }

    /// Row `r`'s `row_len` token ids.
    pub fn ids(&self, r: usize) -> &[u32] {
        let (b, local) = self.locate(r);
        let vals = self.batches[b].ids.values();
        &vals[local * self.row_len..(local + 1) * self.row_len]
    }

    /// Where documents start in row `r`.
    pub fn doc_starts(&self, r: usize) -> Vec<u32> {
        let (b, local) = self.locate(r);
        let ds = self.batches[b].doc_starts.value(local);
        ds.as_primitive::<UInt32Type>().values().to_vec()
    }

    /// Real tokens of row `r` (the rest is padding).
    pub fn valid_len(&self, r: usize) -> usize {
        let (b, local) = self.locate(r);
        self.batches[b].valid_len.value(local) as usize
    }
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

//! The record-level reader trait and the one batcher: a format yields [`Record`]s (a
//! document, or a record it could not read, with where and why) through a
//! [`RecordSource`]; the [`Batcher`] builds the document batches every format shares,
//! bounded by `batch_size` and `batch_bytes`, and counts records, bytes and repairs.

use super::{DocSource, Quarantined, ReadChunk, ReadLimits, Repairs};
use crate::document::{DocBatchBuilder, Document};
use crate::error::PipelineError;

/// One record of an input.
pub enum Record {
    Doc(Document),
    /// A record that could not become a document; `records` > 1 when one quarantined entry
    /// stands for several records of the input (an unreadable Parquet row group).
    Bad {
        bad: Quarantined,
        records: u64,
    },
}

impl Record {
    /// One record that could not be read.
    pub fn bad(bad: Quarantined) -> Record {
        Record::Bad { bad, records: 1 }
    }
}

/// A format's reader of one shard: its records in order.
pub trait RecordSource: Send {
    /// The next record; `None` at the end. Repairs made to a kept record go into `repairs`.
    fn next_record(&mut self, repairs: &mut Repairs) -> Result<Option<Record>, PipelineError>;

    /// Input bytes behind the records returned so far (after decompression), for stats.
    fn bytes(&self) -> u64;

    /// Bytes of the file on disk consumed so far (compressed bytes for a compressed file),
    /// for progress; about, not exact.
    fn consumed(&self) -> u64 {
        0
    }
}

/// Any format's records as document batches.
pub struct Batcher {
    source: Box<dyn RecordSource>,
    limits: ReadLimits,
    done: bool,
}

impl Batcher {
    pub fn new(source: Box<dyn RecordSource>, limits: ReadLimits) -> Self {
        Batcher {
            source,
            limits,
            done: false,
        }
    }
}

impl DocSource for Batcher {
    fn consumed(&self) -> u64 {
        self.source.consumed()
    }

    fn next_chunk(&mut self) -> Result<Option<ReadChunk>, PipelineError> {
        if self.done {
            return Ok(None);
        }
        let mut docs = DocBatchBuilder::new();
        let mut bad = Vec::new();
        let mut repairs = Repairs::default();
        let (mut records, bytes0) = (0u64, self.source.bytes());
        let batch = self.limits.batch_size;
        while docs.has_room(batch, self.limits.batch_bytes) && bad.len() < batch {
            match self.source.next_record(&mut repairs)? {
                None => {
                    self.done = true;
                    break;
                }
                Some(Record::Doc(d)) => {
                    records += 1;
                    docs.push(&d);
                }
                Some(Record::Bad { bad: q, records: n }) => {
                    records += n;
                    bad.push(q);
                }
            }
        }
        let bytes = self.source.bytes() - bytes0;
        if self.done && records == 0 && bytes == 0 {
            return Ok(None);
        }
        Ok(Some(ReadChunk {
            docs: docs.finish(),
            bad,
            records,
            bytes,
            repairs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents of `len` bytes, every fifth record a quarantined run of 3 records.
    struct Toy {
        left: usize,
        len: usize,
        bytes: u64,
    }

    impl RecordSource for Toy {
        fn next_record(&mut self, _: &mut Repairs) -> Result<Option<Record>, PipelineError> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            self.bytes += self.len as u64;
            if self.left.is_multiple_of(5) {
                let bad = Quarantined {
                    reason: "malformed_json",
                    detail: format!("toy:{}", self.left),
                    source: "toy".into(),
                    raw: String::new(),
                };
                return Ok(Some(Record::Bad { bad, records: 3 }));
            }
            Ok(Some(Record::Doc(Document {
                id: self.left.to_string(),
                text: "x".repeat(self.len),
                source: "toy".into(),
                domain: "web".into(),
                meta: None,
            })))
        }
        fn bytes(&self) -> u64 {
            self.bytes
        }
    }

    fn chunks(left: usize, len: usize, batch_size: usize, batch_bytes: u64) -> Vec<ReadChunk> {
        let limits = ReadLimits {
            batch_size,
            batch_bytes,
            max_record_bytes: u64::MAX,
        };
        let mut b = Batcher::new(
            Box::new(Toy {
                left,
                len,
                bytes: 0,
            }),
            limits,
        );
        std::iter::from_fn(|| b.next_chunk().unwrap()).collect()
    }

    #[test]
    fn batches_are_bounded_by_rows_and_bytes_and_every_record_is_counted() {
        let by_rows = chunks(100, 10, 16, u64::MAX);
        let rows: Vec<usize> = by_rows.iter().map(|c| c.docs.num_rows()).collect();
        // (The last record is a bad one: a chunk of its own.)
        assert_eq!(rows, [16, 16, 16, 16, 16, 0]);
        let records: u64 = by_rows.iter().map(|c| c.records).sum();
        let bad: usize = by_rows.iter().map(|c| c.bad.len()).sum();
        assert_eq!((records, bad), (80 + 3 * 20, 20));
        assert_eq!(by_rows.iter().map(|c| c.bytes).sum::<u64>(), 1000);
        // 1 KiB documents, 4 KiB batches.
        let by_bytes = chunks(20, 1024, 1000, 4096);
        let rows: Vec<usize> = by_bytes.iter().map(|c| c.docs.num_rows()).collect();
        assert_eq!(rows, [4, 4, 4, 4, 0]);
        assert!(
            chunks(0, 1, 1, 1).is_empty(),
            "an empty source has no chunks"
        );
    }
}

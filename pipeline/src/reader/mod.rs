//! Readers: turn input files into document batches, one shard at a time, and quarantine
//! every record they cannot read (malformed JSON, invalid UTF-8, a missing text field, a
//! truncated compressed stream, an empty file) with the file, line and cause.

mod batcher;
mod format;
mod input_file;
mod jsonl;
mod parquet_file;
mod plan;
mod text_files;
mod warc;

pub use batcher::{Batcher, Record, RecordSource};
pub use format::{Format, InputKind, FORMATS};
pub use input_file::{InputFile, ParquetChunks, ReadSeek};
pub use jsonl::{replace_lone_surrogates, JsonLines};
pub(crate) use parquet_file::rows_per_batch;
pub use plan::{kind_of, plan_shards, Part, ShardSpec};

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;

use crate::config::InputConfig;
use crate::error::PipelineError;

/// A record that could not become a document, with why and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// Reason code counted in stats: `malformed_json`, `invalid_utf8`, `missing_text_field`,
    /// `truncated_input`, `empty_file`, `unreadable_file`, `record_too_large`.
    pub reason: &'static str,
    /// Where and what: `raw/a.jsonl.gz:17: expected value at line 1 column 3`.
    pub detail: String,
    pub source: String,
    /// The raw record as far as it could be read (lossy UTF-8, capped at [`RAW_CAP`] bytes).
    pub raw: String,
}

/// Raw bytes of a bad record kept in the quarantine.
pub const RAW_CAP: usize = 64 * 1024;

fn raw_lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(RAW_CAP)]).into_owned()
}

/// One step of reading a shard.
#[derive(Debug)]
pub struct ReadChunk {
    /// Good documents (base schema); may have zero rows.
    pub docs: RecordBatch,
    pub bad: Vec<Quarantined>,
    /// Records seen (good + bad), blank lines not included.
    pub records: u64,
    /// Bytes of input consumed (after decompression).
    pub bytes: u64,
    /// What the reader repaired in records it kept.
    pub repairs: Repairs,
}

/// Damage a reader repairs instead of losing the record, and input records that are not
/// documents (a WARC `request`, an image response), counted in the reader's stats.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repairs {
    /// A UTF-8 byte-order mark at the start of a file, removed.
    pub bom_stripped: u64,
    /// JSON `\uD800`-`\uDFFF` escapes that are not part of a pair (Python's `json` writes
    /// them for broken scraped text), replaced with U+FFFD.
    pub lone_surrogates: u64,
    /// Other counters a format keeps, by name (a bounded set of names per format).
    pub other: BTreeMap<String, u64>,
}

impl Repairs {
    /// (counter name, value) pairs for the stats.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            ("bom_stripped".to_string(), self.bom_stripped),
            ("lone_surrogates_replaced".to_string(), self.lone_surrogates),
        ];
        out.extend(self.other.iter().map(|(k, v)| (k.clone(), *v)));
        out
    }

    /// Adds `counts` to the other counters.
    pub fn add_counts(&mut self, counts: BTreeMap<String, u64>) {
        for (k, v) in counts {
            *self.other.entry(k).or_default() += v;
        }
    }
}

/// The UTF-8 byte-order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Yields a shard's documents in order, a batch at a time (an input's [`Batcher`], or a
/// phase's intermediate files).
pub trait DocSource: Send {
    fn next_chunk(&mut self) -> Result<Option<ReadChunk>, PipelineError>;
    /// Bytes of the shard's input on disk consumed so far (compressed bytes for a compressed
    /// file), for progress; about, not exact.
    fn consumed(&self) -> u64 {
        0
    }
}

/// A reader that counts the bytes read through it into a shared counter.
pub(crate) struct Counting<R> {
    pub inner: R,
    pub count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// How much a reader takes at a time.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Documents per batch.
    pub batch_size: usize,
    /// Text bytes per batch: a batch closes once it holds this much.
    pub batch_bytes: u64,
    /// Records longer than this are skipped and quarantined (`record_too_large`).
    pub max_record_bytes: u64,
}

/// Opens the reader for one shard: its format's records, batched.
pub fn open_shard(
    spec: &ShardSpec,
    input: &InputConfig,
    base_dir: &Path,
    limits: ReadLimits,
) -> Box<dyn DocSource> {
    let files = spec
        .files
        .iter()
        .map(|f| (f.clone(), f.display(base_dir)))
        .collect();
    let records = spec.kind.format().open(files, spec.part, input, limits);
    Box::new(Batcher::new(records, limits))
}

/// The name a file goes by in `source` columns and messages: relative to the config's
/// directory, so outputs do not depend on where the checkout lives or the working directory.
pub fn display_path(path: &Path, base_dir: &Path) -> String {
    crate::config::relative_to(path, base_dir)
        .to_string_lossy()
        .into_owned()
}

/// Arbitrary bytes through every reader: no panic, and every file is accounted for, as
/// documents or quarantined records (`records` = documents + quarantined for JSONL and text).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::config::InputConfig;
    use proptest::prelude::*;

    fn input() -> InputConfig {
        jsonl::tests::input()
    }

    fn read_all(spec: &ShardSpec) -> (u64, u64, u64) {
        let limits = ReadLimits {
            batch_size: 7,
            batch_bytes: 1000,
            max_record_bytes: 300,
        };
        let mut src = open_shard(spec, &input(), Path::new("/"), limits);
        let (mut docs, mut bad, mut records) = (0, 0, 0);
        while let Some(c) = src.next_chunk().unwrap() {
            docs += c.docs.num_rows() as u64;
            bad += c.bad.len() as u64;
            records += c.records;
        }
        (docs, bad, records)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bytes_in_any_format(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let dir = tempfile::tempdir().unwrap();
            for (kind, name) in [
                ("jsonl", "f.jsonl"),
                ("jsonl", "f.jsonl.gz"),
                ("jsonl", "f.jsonl.zst"),
                ("parquet", "f.parquet"),
                ("text", "f.txt"),
                ("warc", "f.warc.gz"),
                ("warc", "f.warc"),
                ("warc", "f.arc.gz"),
            ] {
                let kind = InputKind::named(kind).unwrap();
                let p = dir.path().join(name);
                std::fs::write(&p, &bytes).unwrap();
                let spec = ShardSpec::whole(0, 0, kind, vec![p]);
                let (docs, bad, records) = read_all(&spec);
                prop_assert!(docs + bad >= 1, "{name}: nothing accounted for");
                if kind.name() != "parquet" {
                    prop_assert_eq!(docs + bad, records, "{}", name);
                }
            }
        }
    }
}

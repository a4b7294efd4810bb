//! Input formats, registered like stages: a [`Format`] says which file names it reads, how a
//! big file is cut into parts that workers read on their own, and opens the record reader of
//! one shard. Adding a format is one file implementing it plus one line in [`FORMATS`]; the
//! planner, the `format = "…"` config key and the executor know nothing else of it.

use super::batcher::RecordSource;
use super::input_file::InputFile;
use super::{Part, ReadLimits};
use crate::config::InputConfig;

/// One input format.
pub trait Format: Sync {
    /// Its `format = "…"` name.
    fn name(&self) -> &'static str;

    /// Whether a file of this (lower-case) name is of this format (`format = "auto"`).
    fn detects(&self, lower_name: &str) -> bool;

    /// Cuts a file of `size` bytes into parts of about `target` bytes that can be read on
    /// their own, each with its size; a format that cannot cut reads the file whole.
    fn parts(
        &self,
        _file: &InputFile,
        size: u64,
        _target: u64,
    ) -> Result<Vec<(Part, u64)>, String> {
        Ok(vec![(Part::Whole, size)])
    }

    /// Whether a whole file that cannot be cut (a compressed stream) and is big is read on
    /// one thread while every worker processes its batches.
    fn streams(&self, _file: &InputFile) -> bool {
        false
    }

    /// Whether each file is one document and small files are grouped into shards.
    fn file_per_document(&self) -> bool {
        false
    }

    /// The reader of one shard: the records of `files` (file, name in messages) read in
    /// `part`; the shared [`Batcher`](super::Batcher) makes the batches.
    fn open(
        &self,
        files: Vec<(InputFile, String)>,
        part: Part,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Box<dyn RecordSource>;
}

/// The file of a shard of a format that reads one file per shard (all but text files).
pub(crate) fn one_file(files: Vec<(InputFile, String)>) -> (InputFile, String) {
    let mut files = files.into_iter();
    let one = files.next().expect("a shard reads one file");
    debug_assert!(files.next().is_none(), "a shard reads one file");
    one
}

/// Every input format, in the order `format = "auto"` tries them.
pub static FORMATS: &[&dyn Format] = &[
    &super::jsonl::JsonlFormat,
    &super::parquet_file::ParquetFormat,
    &super::text_files::TextFormat,
    &super::warc::WarcFormat,
];

/// A registered format, by reference: what a shard is read as.
#[derive(Clone, Copy)]
pub struct InputKind(&'static dyn Format);

impl InputKind {
    /// The format named `name`, if one is registered.
    pub fn named(name: &str) -> Option<InputKind> {
        FORMATS
            .iter()
            .find(|f| f.name() == name)
            .map(|f| InputKind(*f))
    }

    /// The format a file name says (`format = "auto"`).
    pub fn of_name(file_name: &str) -> Option<InputKind> {
        let lower = file_name.to_lowercase();
        FORMATS
            .iter()
            .find(|f| f.detects(&lower))
            .map(|f| InputKind(*f))
    }

    pub fn format(self) -> &'static dyn Format {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The registered names, for messages.
    pub fn names() -> Vec<&'static str> {
        FORMATS.iter().map(|f| f.name()).collect()
    }
}

impl PartialEq for InputKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for InputKind {}

impl PartialOrd for InputKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InputKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl std::fmt::Debug for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

//! Directories of text files: each file is one document, its id the file's path.

use super::format::Format;
use super::input_file::InputFile;
use super::{raw_lossy, DocSource, Part, Quarantined, ReadChunk, ReadLimits, Repairs, BOM};
use crate::config::InputConfig;
use crate::document::{DocBatchBuilder, Document};
use crate::error::PipelineError;

/// Text files (`.txt`, or `text_extension` inside a directory): each file one document.
pub(crate) struct TextFormat;

impl Format for TextFormat {
    fn name(&self) -> &'static str {
        "text"
    }

    fn detects(&self, name: &str) -> bool {
        name.ends_with(".txt")
    }

    fn file_per_document(&self) -> bool {
        true
    }

    fn open(
        &self,
        files: Vec<(InputFile, String)>,
        _part: Part,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Box<dyn DocSource> {
        Box::new(TextFilesSource::new(files, input.clone(), limits))
    }
}

pub(crate) struct TextFilesSource {
    files: Vec<(InputFile, String)>,
    next: usize,
    input: InputConfig,
    /// Files longer than `max_record_bytes` are not read and are quarantined as
    /// `record_too_large`.
    limits: ReadLimits,
    consumed: u64,
}

impl TextFilesSource {
    pub(crate) fn new(
        files: Vec<(InputFile, String)>,
        input: InputConfig,
        limits: ReadLimits,
    ) -> Self {
        TextFilesSource {
            files,
            next: 0,
            input,
            limits,
            consumed: 0,
        }
    }
}

impl DocSource for TextFilesSource {
    fn consumed(&self) -> u64 {
        self.consumed
    }

    fn next_chunk(&mut self) -> Result<Option<ReadChunk>, PipelineError> {
        if self.next >= self.files.len() {
            return Ok(None);
        }
        let mut docs = DocBatchBuilder::new();
        let mut bad = Vec::new();
        let mut records = 0;
        let mut bytes = 0;
        let mut repairs = Repairs::default();
        while self.next < self.files.len()
            && docs.has_room(
                self.limits.batch_size.saturating_sub(bad.len()),
                self.limits.batch_bytes,
            )
        {
            let (path, name) = &self.files[self.next];
            self.next += 1;
            records += 1;
            let quarantine = |reason, detail: String, raw: &[u8]| Quarantined {
                reason,
                detail,
                source: name.clone(),
                raw: raw_lossy(raw),
            };
            let size = path.size().unwrap_or(0);
            self.consumed += size;
            if size > self.limits.max_record_bytes {
                bad.push(quarantine(
                    "record_too_large",
                    format!(
                        "{name}: file of {size} bytes is over run.max_record_bytes = {}",
                        self.limits.max_record_bytes
                    ),
                    b"",
                ));
                continue;
            }
            let data = match path.read_all() {
                Ok(mut d) => {
                    if d.starts_with(BOM) {
                        d.drain(..BOM.len());
                        repairs.bom_stripped += 1;
                    }
                    d
                }
                Err(e) => {
                    bad.push(quarantine(
                        "unreadable_file",
                        format!("{name}: cannot read: {e}"),
                        b"",
                    ));
                    continue;
                }
            };
            bytes += data.len() as u64;
            if data.iter().all(u8::is_ascii_whitespace) {
                bad.push(quarantine(
                    "empty_file",
                    format!("{name}: empty file"),
                    &data,
                ));
                continue;
            }
            let text = match String::from_utf8(data) {
                Ok(t) => t,
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
                    bad.push(quarantine(
                        "invalid_utf8",
                        format!("{name}:{line}: invalid UTF-8 at byte {at}"),
                        e.as_bytes(),
                    ));
                    continue;
                }
            };
            let domain = if self.input.domain_from_dir {
                path.parent_name()
                    .unwrap_or_else(|| self.input.default_domain.clone())
            } else {
                self.input.default_domain.clone()
            };
            docs.push(&Document {
                id: name.clone(),
                text,
                source: name.clone(),
                domain,
                meta: None,
            });
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

//! Directories of text files: each file is one document, its id the file's path.

use std::path::PathBuf;

use super::{raw_lossy, DocSource, Quarantined, ReadChunk, Repairs, BOM};
use crate::config::InputConfig;
use crate::document::{DocBatchBuilder, Document, MAX_BATCH_TEXT_BYTES};
use crate::error::PipelineError;

pub(crate) struct TextFilesSource {
    files: Vec<(PathBuf, String)>,
    next: usize,
    input: InputConfig,
    batch_size: usize,
    max_record_bytes: u64,
}

impl TextFilesSource {
    pub(crate) fn new(
        files: Vec<(PathBuf, String)>,
        input: InputConfig,
        batch_size: usize,
    ) -> Self {
        TextFilesSource {
            files,
            next: 0,
            input,
            batch_size,
            max_record_bytes: u64::MAX,
        }
    }

    /// Files longer than `max` bytes are not read and are quarantined as `record_too_large`.
    pub(crate) fn with_max_record_bytes(mut self, max: u64) -> Self {
        self.max_record_bytes = max;
        self
    }
}

impl DocSource for TextFilesSource {
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
            && docs.len() + bad.len() < self.batch_size
            && docs.text_bytes() < MAX_BATCH_TEXT_BYTES
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
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            if size > self.max_record_bytes {
                bad.push(quarantine(
                    "record_too_large",
                    format!(
                        "{name}: file of {size} bytes is over run.max_record_bytes = {}",
                        self.max_record_bytes
                    ),
                    b"",
                ));
                continue;
            }
            let data = match std::fs::read(path) {
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
                path.parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
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

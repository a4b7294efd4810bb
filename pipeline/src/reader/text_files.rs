//! Directories of text files: each file is one document, its id the file's path.

use super::batcher::{Record, RecordSource};
use super::format::Format;
use super::input_file::InputFile;
use super::{raw_lossy, Part, Quarantined, ReadLimits, Repairs, BOM};
use crate::config::InputConfig;
use crate::document::Document;
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
    ) -> Box<dyn RecordSource> {
        Box::new(TextFilesSource::new(files, input, limits))
    }
}

pub(crate) struct TextFilesSource {
    files: Vec<(InputFile, String)>,
    next: usize,
    domain_from_dir: bool,
    default_domain: String,
    /// Files longer than this are not read and are quarantined as `record_too_large`.
    max_record_bytes: u64,
    consumed: u64,
    bytes: u64,
}

impl TextFilesSource {
    pub(crate) fn new(
        files: Vec<(InputFile, String)>,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Self {
        TextFilesSource {
            files,
            next: 0,
            domain_from_dir: input.domain_from_dir,
            default_domain: input.default_domain.clone(),
            max_record_bytes: limits.max_record_bytes,
            consumed: 0,
            bytes: 0,
        }
    }
}

impl RecordSource for TextFilesSource {
    fn consumed(&self) -> u64 {
        self.consumed
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn next_record(&mut self, repairs: &mut Repairs) -> Result<Option<Record>, PipelineError> {
        let Some((path, name)) = self.files.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let quarantine = |reason, detail: String, raw: &[u8]| {
            Record::bad(Quarantined {
                reason,
                detail,
                source: name.clone(),
                raw: raw_lossy(raw),
            })
        };
        let size = path.size().unwrap_or(0);
        self.consumed += size;
        if size > self.max_record_bytes {
            let detail = format!(
                "{name}: file of {size} bytes is over run.max_record_bytes = {}",
                self.max_record_bytes
            );
            return Ok(Some(quarantine("record_too_large", detail, b"")));
        }
        let mut data = match path.read_all() {
            Ok(d) => d,
            Err(e) => {
                let detail = format!("{name}: cannot read: {e}");
                return Ok(Some(quarantine("unreadable_file", detail, b"")));
            }
        };
        if data.starts_with(BOM) {
            data.drain(..BOM.len());
            repairs.bom_stripped += 1;
        }
        self.bytes += data.len() as u64;
        if data.iter().all(u8::is_ascii_whitespace) {
            let detail = format!("{name}: empty file");
            return Ok(Some(quarantine("empty_file", detail, &data)));
        }
        let text = match String::from_utf8(data) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
                let detail = format!("{name}:{line}: invalid UTF-8 at byte {at}");
                return Ok(Some(quarantine("invalid_utf8", detail, e.as_bytes())));
            }
        };
        let domain = match self.domain_from_dir {
            true => path.parent_name(),
            false => None,
        };
        Ok(Some(Record::Doc(Document {
            id: name.clone(),
            text,
            source: name.clone(),
            domain: domain.unwrap_or_else(|| self.default_domain.clone()),
            meta: None,
        })))
    }
}

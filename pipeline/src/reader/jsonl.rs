//! JSON lines, plain, gzip (`.gz`, multi-member) or zstd (`.zst`), one record per line:
//! [`JsonLines`] is the workspace's one JSONL reader (the pipeline's reader here, and the
//! tokenizer's and classifier's training input), which quarantines every line it cannot
//! parse instead of stopping; `JsonlSource` turns its records into document batches.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use rayon::prelude::*;

use serde_json::{Map, Value};

use super::batcher::{Record, RecordSource};
use super::format::{one_file, Format};
use super::input_file::InputFile;
use super::{raw_lossy, Part, Quarantined, ReadLimits, Repairs, BOM, RAW_CAP};
use crate::config::InputConfig;
use crate::document::Document;
use crate::error::PipelineError;

/// The JSON values of a file's lines (or of a byte range of it), one at a time. A line that
/// is not JSON, not UTF-8, over `max_record_bytes`, or cut short by a damaged compressed
/// stream comes back as a [`Quarantined`] record naming the file and line; an empty or
/// unreadable file as one. A UTF-8 BOM and lone surrogate escapes are repaired and counted.
pub struct JsonLines {
    file: InputFile,
    name: String,
    /// Bytes `start..end` of the file when reading part of it.
    range: Option<(u64, u64)>,
    max_record_bytes: u64,
    reader: Option<Box<dyn BufRead + Send>>,
    opened: bool,
    done: bool,
    line_no: u64,
    /// Bytes of lines read (after decompression), blank ones included.
    bytes: u64,
    /// Records returned (good and bad).
    records: u64,
    line: Vec<u8>,
    /// Bytes read from the file on disk.
    consumed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl JsonLines {
    /// Reads the local file `path`, called `name` in messages.
    pub fn open(path: PathBuf, name: String) -> Self {
        JsonLines::of(InputFile::Local(path), name)
    }

    /// Reads `file` (local or an object), called `name` in messages.
    pub fn of(file: InputFile, name: String) -> Self {
        JsonLines {
            file,
            name,
            range: None,
            max_record_bytes: u64::MAX,
            reader: None,
            opened: false,
            done: false,
            line_no: 0,
            bytes: 0,
            records: 0,
            line: Vec::new(),
            consumed: Default::default(),
        }
    }

    /// Reads only bytes `start..end` (both line starts) of an uncompressed file, whose first
    /// line is line `first_line` of the file.
    pub fn with_range(mut self, start: u64, end: u64, first_line: u64) -> Self {
        self.range = Some((start, end));
        self.line_no = first_line - 1;
        self
    }

    /// Lines longer than `max` bytes are skipped unread and quarantined (`record_too_large`).
    pub fn with_max_record_bytes(mut self, max: u64) -> Self {
        self.max_record_bytes = max;
        self
    }

    /// Bytes of lines read so far (after decompression).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The raw bytes of the line last returned, for a quarantine record.
    pub fn last_line(&self) -> &[u8] {
        let mut l: &[u8] = &self.line;
        while let Some((b'\n' | b'\r', rest)) = l.split_last() {
            l = rest;
        }
        l
    }

    /// Bytes read from the file on disk so far (compressed bytes for a compressed file).
    pub fn consumed(&self) -> u64 {
        self.consumed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn reader(&self) -> std::io::Result<Box<dyn BufRead + Send>> {
        let mut file = self.file.open()?;
        if let Some((start, end)) = self.range {
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(start))?;
            let counted = super::Counting {
                inner: file.take(end - start),
                count: self.consumed.clone(),
            };
            return Ok(Box::new(BufReader::with_capacity(1 << 20, counted)));
        }
        let file = super::Counting {
            inner: file,
            count: self.consumed.clone(),
        };
        let lower = self.name.to_lowercase();
        let inner: Box<dyn Read + Send> = if lower.ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Box::new(zstd::stream::read::Decoder::new(file)?)
        } else {
            Box::new(file)
        };
        Ok(Box::new(BufReader::with_capacity(1 << 20, inner)))
    }

    fn bad(&mut self, reason: &'static str, detail: String, raw: &[u8]) -> Quarantined {
        self.records += 1;
        Quarantined {
            reason,
            detail,
            source: self.name.clone(),
            raw: raw_lossy(raw),
        }
    }

    /// The next record: (line number, value), or the line quarantined; `None` at the end.
    pub fn next_record(
        &mut self,
        repairs: &mut Repairs,
    ) -> Option<Result<(u64, Value), Quarantined>> {
        if self.done {
            return None;
        }
        if !self.opened {
            self.opened = true;
            match self.reader() {
                Ok(r) => self.reader = Some(r),
                Err(e) => {
                    self.done = true;
                    let detail = format!("{}: cannot open: {e}", self.name);
                    return Some(Err(self.bad("unreadable_file", detail, b"")));
                }
            }
        }
        loop {
            self.line.clear();
            let reader = self.reader.as_mut().expect("opened above");
            match read_line_bounded(&mut **reader, &mut self.line, self.max_record_bytes) {
                Ok(Line::TooLong(n)) => {
                    self.bytes += n;
                    self.line_no += 1;
                    let detail = format!(
                        "{}:{}: record of {n} bytes is over run.max_record_bytes = {}",
                        self.name, self.line_no, self.max_record_bytes
                    );
                    let line = std::mem::take(&mut self.line);
                    let q = self.bad("record_too_large", detail, &line);
                    self.line = line;
                    return Some(Err(q));
                }
                Ok(Line::Read(0)) => {
                    self.done = true;
                    // A part of a cut file is never the whole file: only an uncut read can
                    // tell that the file is empty.
                    if self.records > 0 || self.range.is_some() {
                        return None;
                    }
                    let detail = match self.bytes {
                        0 => format!("{}: empty file", self.name),
                        _ => format!("{}: only blank lines", self.name),
                    };
                    return Some(Err(self.bad("empty_file", detail, b"")));
                }
                Ok(Line::Read(n)) => {
                    self.bytes += n;
                    self.line_no += 1;
                }
                Err(e) => {
                    // A truncated or corrupt compressed stream: what was read of the last line
                    // goes to the quarantine, the rest of the file cannot be reached.
                    self.done = true;
                    self.bytes += self.line.len() as u64;
                    let detail = format!(
                        "{}: input ends early after line {}: {e}",
                        self.name, self.line_no
                    );
                    let line = std::mem::take(&mut self.line);
                    return Some(Err(self.bad("truncated_input", detail, &line)));
                }
            }
            if let Some(r) = self.parse_line(repairs) {
                return Some(r);
            }
        }
    }

    /// The line in the buffer as a record; `None` for a blank line.
    fn parse_line(&mut self, repairs: &mut Repairs) -> Option<Result<(u64, Value), Quarantined>> {
        let mut line: &[u8] = &self.line;
        if self.line_no == 1 {
            if let Some(rest) = line.strip_prefix(BOM) {
                line = rest;
                repairs.bom_stripped += 1;
            }
        }
        while let Some((b'\n' | b'\r', rest)) = line.split_last() {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let loc = format!("{}:{}", self.name, self.line_no);
        let parsed = match utf8(line) {
            Ok(s) => {
                parse_json_line(s, repairs).map_err(|e| ("malformed_json", format!("{loc}: {e}")))
            }
            Err(e) => Err((
                "invalid_utf8",
                format!("{loc}: invalid UTF-8 at byte {}", e.valid_up_to()),
            )),
        };
        Some(match parsed {
            Ok(v) => {
                self.records += 1;
                Ok((self.line_no, v))
            }
            Err((reason, detail)) => {
                let line = line.to_vec();
                Err(self.bad(reason, detail, &line))
            }
        })
    }
}

/// `line` as text, checked with SIMD; the error (rare) from the standard library's check,
/// which says where the bad byte is.
fn utf8(line: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(line) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(line),
    }
}

/// JSON lines: `.jsonl`, `.ndjson`, `.json`, each also `.gz` / `.zst` / `.zstd`. A plain
/// file is cut into byte ranges at line starts; a compressed one streams.
pub(crate) struct JsonlFormat;

fn is_compressed(file: &InputFile) -> bool {
    let name = file.file_name().to_lowercase();
    name.ends_with(".gz") || name.ends_with(".zst") || name.ends_with(".zstd")
}

impl Format for JsonlFormat {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn detects(&self, name: &str) -> bool {
        let stem = [".gz", ".zst", ".zstd"]
            .iter()
            .find_map(|c| name.strip_suffix(c))
            .unwrap_or(name);
        [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|e| stem.ends_with(e))
    }

    fn parts(&self, file: &InputFile, size: u64, target: u64) -> Result<Vec<(Part, u64)>, String> {
        if is_compressed(file) {
            return Ok(vec![(Part::Whole, size)]);
        }
        jsonl_parts(file, size, target).map_err(|e| format!("{file}: {e}"))
    }

    fn streams(&self, file: &InputFile) -> bool {
        is_compressed(file)
    }

    fn open(
        &self,
        files: Vec<(InputFile, String)>,
        part: Part,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Box<dyn RecordSource> {
        let (file, name) = one_file(files);
        let src = JsonlSource::new(file, name, input.clone(), limits);
        Box::new(match part {
            Part::Range { start, end, first } => src.with_range(start, end, first),
            Part::Whole => src,
        })
    }
}

/// Line starts that cut an uncompressed file of `len` bytes into ranges of about `target`.
fn line_cuts(path: &InputFile, len: u64, target: u64) -> std::io::Result<Vec<u64>> {
    let mut cuts = vec![0u64];
    let mut r = BufReader::with_capacity(1 << 16, path.open_with_block(1 << 16)?);
    let mut pos = target;
    while pos < len {
        // The first line starting at or after `pos`: one past the first '\n' at pos-1 or later.
        r.seek(SeekFrom::Start(pos - 1))?;
        let mut at = pos - 1;
        let cut = loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                break len;
            }
            if let Some(i) = memchr::memchr(b'\n', buf) {
                break at + i as u64 + 1;
            }
            let n = buf.len();
            at += n as u64;
            r.consume(n);
        };
        if cut >= len {
            break;
        }
        cuts.push(cut);
        pos = cut + target;
    }
    Ok(cuts)
}

/// Newlines in bytes `start..end` of `path`.
fn count_lines(path: &InputFile, start: u64, end: u64) -> std::io::Result<u64> {
    let mut f = path.open()?;
    f.seek(SeekFrom::Start(start))?;
    let mut f = f.take(end - start);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

/// An uncompressed JSONL file as line ranges of about `target` bytes, with each range's
/// first line number (the newlines are counted on every core).
pub(super) fn jsonl_parts(
    path: &InputFile,
    len: u64,
    target: u64,
) -> std::io::Result<Vec<(Part, u64)>> {
    let mut cuts = line_cuts(path, len, target)?;
    cuts.push(len);
    let counts: Vec<u64> = cuts
        .par_windows(2)
        .map(|w| count_lines(path, w[0], w[1]))
        .collect::<std::io::Result<_>>()?;
    let mut first_line = 1;
    Ok(cuts
        .windows(2)
        .zip(counts)
        .map(|(w, n)| {
            let part = Part::Range {
                start: w[0],
                end: w[1],
                first: first_line,
            };
            first_line += n;
            (part, w[1] - w[0])
        })
        .collect())
}

pub(crate) struct JsonlSource {
    lines: JsonLines,
    input: InputConfig,
}

impl JsonlSource {
    pub(crate) fn new(
        file: impl Into<InputFile>,
        name: String,
        input: InputConfig,
        limits: ReadLimits,
    ) -> Self {
        JsonlSource {
            lines: JsonLines::of(file.into(), name).with_max_record_bytes(limits.max_record_bytes),
            input,
        }
    }

    /// Reads only bytes `start..end` (both line starts) of an uncompressed file, whose first
    /// line is line `first_line` of the file.
    pub(crate) fn with_range(mut self, start: u64, end: u64, first_line: u64) -> Self {
        self.lines = self.lines.with_range(start, end, first_line);
        self
    }
}

/// Turns one parsed JSON line into a document or says why it cannot be one.
pub(crate) fn document_from_json(
    value: Value,
    input: &InputConfig,
    source: &str,
    record_no: u64,
) -> Result<Document, (&'static str, String)> {
    let mut obj: Map<String, Value> = match value {
        Value::Object(o) => o,
        other => {
            return Err((
                "malformed_json",
                format!("expected a JSON object, found {}", json_kind(&other)),
            ))
        }
    };
    let text = match obj.remove(&input.text_field) {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err((
                "missing_text_field",
                format!(
                    "field '{}' is {}, expected a string",
                    input.text_field,
                    json_kind(&other)
                ),
            ))
        }
        None => {
            return Err((
                "missing_text_field",
                format!("no field '{}'", input.text_field),
            ))
        }
    };
    let id = match obj.remove(&input.id_field) {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            obj.insert(input.id_field.clone(), other);
            format!("{source}:{record_no}")
        }
        None => format!("{source}:{record_no}"),
    };
    let domain = match obj.remove(&input.domain_field) {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(other) => {
            if !other.is_null() && other != Value::String(String::new()) {
                obj.insert(input.domain_field.clone(), other);
            }
            input.default_domain.clone()
        }
        None => input.default_domain.clone(),
    };
    let meta = if obj.is_empty() {
        None
    } else {
        Some(Value::Object(obj).to_string())
    };
    Ok(Document {
        id,
        text,
        source: source.to_string(),
        domain,
        meta,
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl RecordSource for JsonlSource {
    fn consumed(&self) -> u64 {
        self.lines.consumed()
    }

    fn bytes(&self) -> u64 {
        self.lines.bytes
    }

    fn next_record(&mut self, repairs: &mut Repairs) -> Result<Option<Record>, PipelineError> {
        let Some(r) = self.lines.next_record(repairs) else {
            return Ok(None);
        };
        Ok(Some(match r {
            Err(q) => Record::bad(q),
            Ok((line, v)) => match document_from_json(v, &self.input, &self.lines.name, line) {
                Ok(doc) => Record::Doc(doc),
                Err((reason, msg)) => Record::bad(Quarantined {
                    reason,
                    detail: format!("{}:{line}: {msg}", self.lines.name),
                    source: self.lines.name.clone(),
                    raw: raw_lossy(self.lines.last_line()),
                }),
            },
        }))
    }
}

/// What [`read_line_bounded`] found.
enum Line {
    /// A whole line (its newline included) of this many bytes in the buffer; 0 at the end.
    Read(u64),
    /// A line of this many bytes, over the limit: only its first [`RAW_CAP`] bytes are kept.
    TooLong(u64),
}

/// Reads one line into `buf` like `read_until`, but never holds more than `max` bytes of it:
/// the rest of a longer line is read and dropped chunk by chunk.
fn read_line_bounded(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: u64) -> std::io::Result<Line> {
    let mut total = 0u64;
    let mut too_long = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long && total + take as u64 > max {
            too_long = true;
            buf.truncate(RAW_CAP);
        }
        if !too_long {
            buf.extend_from_slice(&chunk[..take]);
        } else if buf.len() < RAW_CAP {
            let room = (RAW_CAP - buf.len()).min(take);
            buf.extend_from_slice(&chunk[..room]);
        }
        total += take as u64;
        r.consume(take);
        if done {
            break;
        }
    }
    Ok(if too_long {
        Line::TooLong(total)
    } else {
        Line::Read(total)
    })
}

/// Parses one JSON line; a line that fails only for lone surrogate escapes is parsed again
/// with each of them replaced by U+FFFD (counted), instead of losing the whole record.
fn parse_json_line(s: &str, repairs: &mut Repairs) -> serde_json::Result<Value> {
    match serde_json::from_str::<Value>(s) {
        Ok(v) => Ok(v),
        Err(e) => match replace_lone_surrogates(s) {
            Some((fixed, n)) => {
                let v = serde_json::from_str::<Value>(&fixed).map_err(|_| e)?;
                repairs.lone_surrogates += n;
                Ok(v)
            }
            None => Err(e),
        },
    }
}

fn hex4(b: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u16::from_str_radix(s, 16).ok()
}

/// JSON text with every `\uXXXX` escape of a surrogate that has no partner replaced by
/// `\ufffd`, and how many; `None` when there is none. Escaped backslashes are skipped, so
/// `\\ud800` (a literal backslash, then text) is left alone.
pub fn replace_lone_surrogates(s: &str) -> Option<(String, u64)> {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let (mut i, mut n) = (0, 0u64);
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        if b[i + 1] != b'u' {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        }
        let Some(u) = hex4(&b[i + 2..]) else {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        };
        let low_follows = || {
            b.get(i + 6..i + 8) == Some(b"\\u")
                && hex4(&b[i + 8..]).is_some_and(|l| (0xDC00..0xE000).contains(&l))
        };
        if (0xD800..0xDC00).contains(&u) && low_follows() {
            out.extend_from_slice(&b[i..i + 12]);
            i += 12;
        } else if (0xD800..0xE000).contains(&u) {
            out.extend_from_slice(b"\\ufffd");
            n += 1;
            i += 6;
        } else {
            out.extend_from_slice(&b[i..i + 6]);
            i += 6;
        }
    }
    // Only ASCII escapes were rewritten, so the bytes are still UTF-8.
    (n > 0).then(|| (String::from_utf8(out).expect("UTF-8 in, UTF-8 out"), n))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::document::{str_column, DOMAIN, ID, META, TEXT};
    use crate::reader::{Batcher, DocSource};
    use arrow::array::Array;
    use proptest::strategy::Strategy;
    use std::io::Write;

    pub(crate) fn input() -> InputConfig {
        InputConfig {
            paths: vec![],
            format: "auto".into(),
            text_field: "text".into(),
            id_field: "id".into(),
            domain_field: "domain".into(),
            default_domain: "web".into(),
            domain_from_dir: false,
            text_extension: "txt".into(),
            files_per_shard: 1,
            content_types: vec![],
        }
    }

    type Row = (String, String, String, Option<String>);

    pub(crate) fn limits(batch_size: usize) -> ReadLimits {
        ReadLimits {
            batch_size,
            batch_bytes: 16 << 20,
            max_record_bytes: u64::MAX,
        }
    }

    fn read_all(path: PathBuf, name: &str) -> (Vec<Row>, Vec<Quarantined>, u64) {
        let src = JsonlSource::new(path, name.into(), input(), limits(2));
        let mut src = Batcher::new(Box::new(src), limits(2));
        let mut docs = vec![];
        let mut bad = vec![];
        let mut records = 0;
        while let Some(c) = src.next_chunk().unwrap() {
            records += c.records;
            let (id, text, dom, meta) = (
                str_column(&c.docs, ID).unwrap(),
                str_column(&c.docs, TEXT).unwrap(),
                str_column(&c.docs, DOMAIN).unwrap(),
                str_column(&c.docs, META).unwrap(),
            );
            for i in 0..c.docs.num_rows() {
                docs.push((
                    id.value(i).to_string(),
                    text.value(i).to_string(),
                    dom.value(i).to_string(),
                    (!meta.is_null(i)).then(|| meta.value(i).to_string()),
                ));
            }
            bad.extend(c.bad);
        }
        (docs, bad, records)
    }

    #[test]
    fn good_and_bad_lines_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"{\"id\": 7, \"text\": \"\xe8\x82\xa1\xe7\xa5\xa8 ok\", \"domain\": \"finance\", \"url\": \"u\"}\n").unwrap();
        f.write_all(b"\n{\"text\": \"no id\"}\r\n").unwrap();
        f.write_all(b"{\"text\": \"bad \xff\xfe\"}\n").unwrap();
        f.write_all(b"{\"text\": \n").unwrap();
        f.write_all(b"{\"body\": \"x\"}\n").unwrap();
        f.write_all(b"{\"text\": null}\n").unwrap();
        f.write_all(b"[1,2]\n").unwrap();
        f.write_all(b"{\"text\": \"last, no newline\"}").unwrap();
        drop(f);
        let (docs, bad, records) = read_all(p, "a.jsonl");
        assert_eq!(records, 8);
        assert_eq!(docs.len(), 3);
        assert_eq!(
            docs[0],
            (
                "7".into(),
                "股票 ok".into(),
                "finance".into(),
                Some("{\"url\":\"u\"}".into())
            )
        );
        assert_eq!(docs[1].0, "a.jsonl:3");
        assert_eq!(docs[1].2, "web");
        assert_eq!(docs[2].1, "last, no newline");
        let reasons: Vec<_> = bad
            .iter()
            .map(|q| (q.reason, q.detail.split(':').nth(1).unwrap().to_string()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("invalid_utf8", "4".to_string()),
                ("malformed_json", "5".into()),
                ("missing_text_field", "6".into()),
                ("missing_text_field", "7".into()),
                ("malformed_json", "8".into()),
            ]
        );
        assert!(bad[0].raw.contains("bad"));
    }

    #[test]
    fn bom_and_lone_surrogates_keep_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"\xEF\xBB\xBF{\"text\": \"first\"}\n").unwrap();
        // As Python's json.dumps writes broken scraped text: a lone high and a lone low
        // surrogate, a valid pair, and an escaped backslash before `ud800` (not an escape).
        f.write_all(b"{\"text\": \"a\\ud800b\\udc00c \\ud83d\\ude00 \\\\ud800\"}\n")
            .unwrap();
        f.write_all(b"{\"text\": \"still broken\\ud800\", }\n")
            .unwrap();
        drop(f);
        let src = JsonlSource::new(p, "b.jsonl".into(), input(), limits(10));
        let mut src = Batcher::new(Box::new(src), limits(10));
        let c = src.next_chunk().unwrap().unwrap();
        let text = str_column(&c.docs, TEXT).unwrap();
        assert_eq!(text.len(), 2);
        assert_eq!(text.value(0), "first");
        assert_eq!(text.value(1), "a\u{fffd}b\u{fffd}c \u{1F600} \\ud800");
        assert_eq!(c.repairs.bom_stripped, 1);
        assert_eq!(c.repairs.lone_surrogates, 2);
        // A line broken in another way as well is still quarantined, with serde's message.
        assert_eq!(c.bad.len(), 1);
        assert_eq!(c.bad[0].reason, "malformed_json");
        assert!(
            c.bad[0].detail.starts_with("b.jsonl:3: "),
            "{}",
            c.bad[0].detail
        );
    }

    /// A line over `max_record_bytes` is skipped without being held whole (here a 20 MB
    /// line compressed to a few KB) and quarantined with its file and line; reading goes on.
    #[test]
    fn a_huge_line_is_quarantined_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"text\": \"before\"}\n{\"text\": \"")
            .unwrap();
        let block = vec![b'a'; 1 << 20];
        for _ in 0..20 {
            enc.write_all(&block).unwrap();
        }
        enc.write_all(b"\"}\n{\"text\": \"after\"}\n").unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        let lim = ReadLimits {
            max_record_bytes: 1 << 20,
            ..limits(10)
        };
        let mut src = JsonlSource::new(p, "h.jsonl.gz".into(), input(), lim);
        let (mut texts, mut bad) = (vec![], vec![]);
        while let Some(r) = src.next_record(&mut Repairs::default()).unwrap() {
            match r {
                Record::Doc(d) => texts.push(d.text),
                Record::Bad { bad: q, records } => {
                    assert_eq!(records, 1);
                    bad.push(q);
                }
            }
        }
        assert_eq!(texts, ["before", "after"]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].reason, "record_too_large");
        assert!(
            bad[0]
                .detail
                .starts_with("h.jsonl.gz:2: record of 20971533 bytes"),
            "{}",
            bad[0].detail
        );
        assert_eq!(bad[0].raw.len(), RAW_CAP);
        assert!(
            src.lines.line.capacity() < 4 << 20,
            "{}",
            src.lines.line.capacity()
        );
    }

    /// A batch closes at `batch_bytes` of text whatever `batch_size` says, so memory does not
    /// grow with document length.
    #[test]
    fn batches_are_cut_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.jsonl");
        // 40 documents of 1 MiB (a 40 MB file: tests share the CI machine's disk); a batch
        // closes at the 13th, the first to reach 12.5 MiB.
        let text = "x".repeat(1 << 20);
        let line = format!("{{\"text\": \"{text}\"}}\n");
        std::fs::write(&p, line.repeat(40)).unwrap();
        let lim = ReadLimits {
            batch_bytes: 25 << 19,
            ..limits(1_000_000)
        };
        let src = JsonlSource::new(p, "big.jsonl".into(), input(), lim);
        let mut src = Batcher::new(Box::new(src), lim);
        let mut sizes = vec![];
        while let Some(c) = src.next_chunk().unwrap() {
            sizes.push(c.docs.num_rows());
        }
        assert_eq!(sizes, vec![13, 13, 13, 1], "{sizes:?}");
    }

    #[test]
    fn truncated_gzip_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            writeln!(enc, "{{\"text\": \"document number {i} with some words\"}}").unwrap();
        }
        let full = enc.finish().unwrap();
        std::fs::write(&p, &full[..full.len() / 2]).unwrap();
        let (docs, bad, _) = read_all(p, "t.jsonl.gz");
        assert!(!docs.is_empty() && docs.len() < 2000, "{}", docs.len());
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].reason, "truncated_input");
        assert!(
            bad[0]
                .detail
                .starts_with("t.jsonl.gz: input ends early after line"),
            "{}",
            bad[0].detail
        );
    }

    #[test]
    fn zstd_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.jsonl.zst");
        std::fs::write(
            &p,
            zstd::encode_all(&b"{\"text\":\"a\"}\n{\"text\":\"b\"}\n"[..], 3).unwrap(),
        )
        .unwrap();
        let (docs, bad, _) = read_all(p, "z.jsonl.zst");
        assert_eq!(docs.len(), 2);
        assert!(bad.is_empty());
        let e = dir.path().join("e.jsonl");
        std::fs::write(&e, b"").unwrap();
        let (docs, bad, records) = read_all(e, "e.jsonl");
        assert!(docs.is_empty());
        assert_eq!((bad[0].reason, records), ("empty_file", 1));
    }

    proptest::proptest! {
        /// Every non-blank line becomes exactly one document or one quarantined record,
        /// whatever the bytes, and reading never panics.
        #[test]
        fn nothing_is_silently_lost(lines in proptest::collection::vec(
            proptest::prop_oneof![
                "[a-z 股票代码]{0,20}".prop_map(|t| format!("{{\"text\": \"{t}\"}}").into_bytes()),
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            ],
            0..30,
        )) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("p.jsonl");
            let mut bytes = Vec::new();
            let mut expected = 0u64;
            for l in &lines {
                let l: Vec<u8> = l.iter().copied().filter(|b| *b != b'\n').collect();
                let stripped: &[u8] = {
                    let mut s: &[u8] = &l;
                    while let Some((b'\r', rest)) = s.split_last() { s = rest; }
                    s
                };
                if !stripped.iter().all(u8::is_ascii_whitespace) {
                    expected += 1;
                }
                bytes.extend_from_slice(&l);
                bytes.push(b'\n');
            }
            std::fs::write(&p, &bytes).unwrap();
            let (docs, bad, records) = read_all(p, "p.jsonl");
            if expected == 0 {
                // An empty file, or one of blank lines only, is one quarantined record.
                proptest::prop_assert_eq!(bad.len(), 1);
                proptest::prop_assert_eq!(docs.len(), 0);
            } else {
                proptest::prop_assert_eq!(records, expected);
                proptest::prop_assert_eq!(docs.len() as u64 + bad.len() as u64, expected);
            }
        }
    }
}

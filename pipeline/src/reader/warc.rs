//! Web archives (`format = "warc"`): WARC and WET files, plain or gzip (`.warc`,
//! `.warc.gz`, `.wet.gz`), as Common Crawl writes them, and ARC files (`.arc[.gz]`, one
//! `URL IP DATE TYPE … LENGTH` line per record). A `.warc.gz` is a series of gzip
//! members, one record each, so a big file is cut into byte ranges at member starts (found
//! by the gzip magic and checked by decoding a record header) and each worker reads its own.
//!
//! `response` records (HTTP status and headers parsed; 2xx `text/html`, XHTML and
//! `text/plain` kept), `conversion` records (WET text) and `resource` records become
//! documents: the id is the WARC-Record-ID, the text the body decoded to UTF-8 (charset from
//! a BOM, the HTTP header, the page's `<meta>`, else detected by `chardetng`), and `meta`
//! holds the URL, date, record id and type, content type, charset, HTTP status, Common
//! Crawl's language hint and the record's offset. Other records are counted by kind
//! (`warc_skipped.*`). Bad input is quarantined with the file, the offset of its gzip
//! member (or of the record in a plain file) and the record id: a damaged or truncated
//! member (the next member is read), a header whose Content-Length does not match, a record
//! over `max_record_bytes` (skipped without being held, so a zip bomb costs time, not
//! memory), binary bytes served as text, text that does not decode in its charset.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::GzDecoder;
use serde_json::{Map, Value};

use super::batcher::{Record, RecordSource};
use super::format::{one_file, Format};
use super::input_file::{InputFile, ReadSeek};
use super::{raw_lossy, Counting, Part, Quarantined, ReadLimits, Repairs};
use crate::config::InputConfig;
use crate::document::Document;
use crate::error::PipelineError;

/// WARC and WET files, plain or gzip.
pub(crate) struct WarcFormat;

fn is_gz(file: &InputFile) -> bool {
    file.file_name().to_lowercase().ends_with(".gz")
}

/// An ARC file (`.arc`, `.arc.gz`: the Internet Archive's format before WARC).
fn is_arc(file: &InputFile) -> bool {
    let name = file.file_name().to_lowercase();
    name.strip_suffix(".gz").unwrap_or(&name).ends_with(".arc")
}

/// Whether `line` starts a record: `WARC/…`, or in an ARC file a header line
/// (`URL IP DATE TYPE … LENGTH`: five or more fields, the last a number).
fn is_record_line(line: &[u8], arc: bool) -> bool {
    if !arc {
        return line.starts_with(b"WARC/");
    }
    let text = String::from_utf8_lossy(line);
    let fields: Vec<&str> = text.split_whitespace().collect();
    fields.len() >= 5
        && fields[0].contains(':')
        && fields.last().is_some_and(|l| l.parse::<u64>().is_ok())
}

impl Format for WarcFormat {
    fn name(&self) -> &'static str {
        "warc"
    }

    fn detects(&self, name: &str) -> bool {
        let stem = name.strip_suffix(".gz").unwrap_or(name);
        stem.ends_with(".warc") || stem.ends_with(".wet") || stem.ends_with(".arc")
    }

    fn parts(&self, file: &InputFile, size: u64, target: u64) -> Result<Vec<(Part, u64)>, String> {
        if !is_gz(file) {
            return Ok(vec![(Part::Whole, size)]);
        }
        member_parts(file, size, target).map_err(|e| format!("{file}: {e}"))
    }

    fn streams(&self, file: &InputFile) -> bool {
        is_gz(file)
    }

    fn open(
        &self,
        files: Vec<(InputFile, String)>,
        part: Part,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Box<dyn RecordSource> {
        let (file, name) = one_file(files);
        let range = match part {
            Part::Range { start, end, .. } => Some((start, end)),
            Part::Whole => None,
        };
        Box::new(WarcSource::new(file, name, range, input, limits))
    }
}

/// How far past a cut point the next member is looked for: a record is at most
/// `max_record_bytes` (64 MiB by default), so a file with no member start that far on is
/// one gzip stream and is read whole from there.
const MEMBER_SCAN: u64 = 64 << 20;

/// A `.warc.gz` cut into ranges of about `target` bytes at member starts.
fn member_parts(file: &InputFile, size: u64, target: u64) -> std::io::Result<Vec<(Part, u64)>> {
    let mut cuts = vec![0u64];
    let mut pos = target;
    while pos < size {
        match next_member(file, pos, size.min(pos + MEMBER_SCAN))? {
            Some(at) => {
                cuts.push(at);
                pos = at + target;
            }
            None => break,
        }
    }
    cuts.push(size);
    Ok(cuts
        .windows(2)
        .map(|w| {
            let part = Part::Range {
                start: w[0],
                end: w[1],
                first: 0,
            };
            (part, w[1] - w[0])
        })
        .collect())
}

/// The first offset in `from..end` where a gzip member holding a WARC record starts.
fn next_member(file: &InputFile, from: u64, end: u64) -> std::io::Result<Option<u64>> {
    let mut r = BufReader::with_capacity(1 << 16, file.open_with_block(1 << 20)?);
    r.seek(SeekFrom::Start(from))?;
    let mut at = from;
    let mut tail: Vec<u8> = Vec::new();
    while at < end {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        // Candidates may straddle two buffers: look at the last two bytes again.
        let base = at - tail.len() as u64;
        tail.extend_from_slice(buf);
        let n = buf.len();
        for i in memchr::memchr_iter(0x1f, &tail) {
            if tail.get(i + 1..i + 3) == Some(&[0x8b, 0x08]) && base + (i as u64) < end {
                let c = base + i as u64;
                if starts_record(file, c)? {
                    return Ok(Some(c));
                }
            }
        }
        let keep = tail.len().min(2);
        tail.drain(..tail.len() - keep);
        at += n as u64;
        r.consume(n);
    }
    Ok(None)
}

/// Whether a gzip member at `at` decodes to the start of a record (its first line).
fn starts_record(file: &InputFile, at: u64) -> std::io::Result<bool> {
    let mut f = file.open_with_block(1 << 16)?;
    f.seek(SeekFrom::Start(at))?;
    let d = GzDecoder::new(BufReader::with_capacity(1 << 12, f));
    let mut line = Vec::new();
    let ok = BufReader::new(d.take(4096))
        .read_until(b'\n', &mut line)
        .is_ok();
    Ok(ok && is_record_line(&line, is_arc(file)))
}

/// The raw bytes of a range of the file, counted as they are read.
type RangeReader = BufReader<Counting<std::io::Take<Box<dyn ReadSeek>>>>;

/// The decompressed bytes of a file (or of a range of it) one gzip member at a time: the
/// data of one member ends with an empty `fill_buf` until [`Decoded::next_member`] moves on,
/// so a record never runs into the next member and each byte's member offset is known.
struct Decoded {
    file: InputFile,
    /// The end of the range read (the file's size when whole).
    end: u64,
    gz: bool,
    /// The member (gzip) or byte (plain) offset of the data in `buf`.
    offset: u64,
    decoder: Option<GzDecoder<RangeReader>>,
    plain: Option<RangeReader>,
    buf: Vec<u8>,
    pos: usize,
    consumed: Arc<AtomicU64>,
}

impl Decoded {
    fn open(
        file: InputFile,
        start: u64,
        end: u64,
        consumed: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let gz = is_gz(&file);
        let mut d = Decoded {
            file,
            end,
            gz,
            offset: start,
            decoder: None,
            plain: None,
            buf: Vec::new(),
            pos: 0,
            consumed,
        };
        d.start_at(start)?;
        Ok(d)
    }

    fn reader_at(&self, at: u64) -> std::io::Result<RangeReader> {
        let mut f = self.file.open()?;
        f.seek(SeekFrom::Start(at))?;
        let counted = Counting {
            inner: f.take(self.end.saturating_sub(at)),
            count: self.consumed.clone(),
        };
        Ok(BufReader::with_capacity(1 << 16, counted))
    }

    /// Starts reading at `at` (a member start for gzip).
    fn start_at(&mut self, at: u64) -> std::io::Result<()> {
        self.offset = at;
        self.buf.clear();
        self.pos = 0;
        let mut r = self.reader_at(at)?;
        if self.gz {
            // Nothing at all (an empty file or range) is the end, not a broken member.
            if !r.fill_buf()?.is_empty() {
                self.decoder = Some(GzDecoder::new(r));
            }
        } else {
            self.plain = Some(r);
        }
        Ok(())
    }

    /// Moves to the next gzip member: true if there is one. A plain file has one "member".
    fn next_member(&mut self) -> std::io::Result<bool> {
        let Some(d) = self.decoder.take() else {
            return Ok(false);
        };
        let mut r = d.into_inner();
        // The decoder stops at its member's end: what is left starts the next member.
        let left = r.get_ref().inner.limit();
        let buffered = r.buffer().len() as u64;
        let at = self.end - left - buffered;
        if r.fill_buf()?.is_empty() {
            return Ok(false);
        }
        self.offset = at;
        self.buf.clear();
        self.pos = 0;
        self.decoder = Some(GzDecoder::new(r));
        Ok(true)
    }

    /// After damage at the current member: continues at the next member that starts a
    /// record (false if there is none in the range).
    fn resync(&mut self) -> std::io::Result<bool> {
        if !self.gz {
            // A plain file: the caller skips lines to the next `WARC/` line.
            return Ok(true);
        }
        self.decoder = None;
        match next_member(&self.file, self.offset + 1, self.end)? {
            Some(at) => self.start_at(at).map(|()| true),
            None => Ok(false),
        }
    }
}

impl Read for Decoded {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Decoded {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.buf.resize(1 << 16, 0);
            self.pos = 0;
            let n = match (&mut self.decoder, &mut self.plain) {
                (Some(d), _) => d.read(&mut self.buf)?,
                (None, Some(p)) => p.read(&mut self.buf)?,
                (None, None) => 0,
            };
            self.buf.truncate(n);
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if !self.gz {
            self.offset += n as u64;
        }
    }
}

/// The content types read as documents unless `content_types` says otherwise.
const DEFAULT_TYPES: [&str; 3] = ["text/html", "application/xhtml+xml", "text/plain"];

/// A record's header fields, names lower-cased.
type Fields = BTreeMap<String, String>;

/// A WARC record's header fields (names lower-cased) and its block.
struct RawRecord {
    headers: Fields,
    block: Vec<u8>,
    offset: u64,
}

impl RawRecord {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn id(&self) -> &str {
        let id = self.header("warc-record-id").unwrap_or("(no record id)");
        id.trim_start_matches('<').trim_end_matches('>')
    }
}

/// Longest header line and most header bytes read before a record is taken as malformed.
const MAX_HEADER_LINE: usize = 64 << 10;
const MAX_HEADER_BYTES: usize = 1 << 20;

/// What reading one record gave.
enum Raw {
    Record(RawRecord),
    /// A record that cannot be used: quarantine it; `resync` when the reader lost its place.
    Bad {
        reason: &'static str,
        detail: String,
        raw: Vec<u8>,
        resync: bool,
    },
    End,
}

pub(crate) struct WarcSource {
    file: InputFile,
    /// An ARC file (one header line per record) rather than WARC.
    arc: bool,
    name: String,
    range: Option<(u64, u64)>,
    default_domain: String,
    max_record_bytes: u64,
    /// Content types read as documents (lower-case `type/subtype`).
    content_types: Vec<String>,
    stream: Option<Decoded>,
    /// A `WARC/` line (and its offset) found while skipping to the next record of a plain
    /// file.
    pending_line: Option<(Vec<u8>, u64)>,
    done: bool,
    /// Whether any record (good, bad or skipped) was read.
    seen: bool,
    bytes: u64,
    consumed: Arc<AtomicU64>,
    /// Records of kinds that are not documents, by kind.
    skipped: BTreeMap<String, u64>,
}

impl WarcSource {
    pub(crate) fn new(
        file: InputFile,
        name: String,
        range: Option<(u64, u64)>,
        input: &InputConfig,
        limits: ReadLimits,
    ) -> Self {
        WarcSource {
            arc: is_arc(&file),
            file,
            name,
            range,
            default_domain: input.default_domain.clone(),
            max_record_bytes: limits.max_record_bytes,
            content_types: match input.content_types.is_empty() {
                true => DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
                false => input
                    .content_types
                    .iter()
                    .map(|t| t.to_ascii_lowercase())
                    .collect(),
            },
            stream: None,
            pending_line: None,
            done: false,
            seen: false,
            bytes: 0,
            consumed: Default::default(),
            skipped: BTreeMap::new(),
        }
    }

    fn quarantine(&self, reason: &'static str, detail: String, raw: &[u8]) -> Record {
        Record::bad(Quarantined {
            reason,
            detail: format!("{}: {detail}", self.name),
            source: self.name.clone(),
            raw: raw_lossy(raw),
        })
    }

    fn open_stream(&mut self) -> std::io::Result<Decoded> {
        let (start, end) = match self.range {
            Some(r) => r,
            None => (0, self.file.size()?),
        };
        Decoded::open(self.file.clone(), start, end, self.consumed.clone())
    }

    /// Reads one line (without its line end) of at most `MAX_HEADER_LINE` bytes; `None` at
    /// the end of the member.
    fn line(s: &mut Decoded, out: &mut Vec<u8>) -> std::io::Result<Option<()>> {
        out.clear();
        let n = s
            .by_ref()
            .take(MAX_HEADER_LINE as u64)
            .read_until(b'\n', out)?;
        if n == 0 {
            return Ok(None);
        }
        while let Some(b'\n' | b'\r') = out.last() {
            out.pop();
        }
        Ok(Some(()))
    }

    /// A WARC record's header fields (names lower-cased), read up to the blank line; or why
    /// they cannot be.
    fn warc_headers(
        s: &mut Decoded,
        line: &mut Vec<u8>,
    ) -> std::io::Result<Result<Fields, (&'static str, String)>> {
        let mut headers = BTreeMap::new();
        let mut header_bytes = line.len();
        loop {
            if Self::line(s, line)?.is_none() {
                return Ok(Err((
                    "truncated_input",
                    "the record ends inside its header".into(),
                )));
            }
            if line.is_empty() {
                return Ok(Ok(headers));
            }
            header_bytes += line.len();
            if header_bytes > MAX_HEADER_BYTES {
                let msg = format!("a header of over {MAX_HEADER_BYTES} bytes");
                return Ok(Err(("malformed_record", msg)));
            }
            let text = String::from_utf8_lossy(line);
            if let Some((k, v)) = text.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }

    /// The next raw record of the stream.
    fn next_raw(&mut self) -> std::io::Result<Raw> {
        let s = self.stream.as_mut().expect("opened");
        let mut line = Vec::new();
        // Skip the blank lines between records; move on to the next member at a member end.
        let offset = loop {
            if let Some((l, at)) = self.pending_line.take() {
                line = l;
                break at;
            }
            let at = s.offset;
            if Self::line(s, &mut line)?.is_none() {
                if s.next_member()? {
                    continue;
                }
                return Ok(Raw::End);
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                break at;
            }
        };
        let bad = |reason, detail: String, raw: &[u8], resync| Raw::Bad {
            reason,
            detail: format!("@{offset}: {detail}"),
            raw: raw.to_vec(),
            resync,
        };
        let arc = self.arc;
        if !is_record_line(&line, arc) {
            let msg = match arc {
                true => "not an ARC record (no `URL IP DATE TYPE LENGTH` line)",
                false => "not a WARC record (no `WARC/` version line)",
            };
            return Ok(bad("malformed_record", msg.to_string(), &line, true));
        }
        // An ARC record's header is its one line; a WARC record's, lines up to a blank one.
        let headers = match arc {
            true => arc_headers(&line),
            false => match Self::warc_headers(s, &mut line)? {
                Ok(h) => h,
                Err((reason, msg)) => return Ok(bad(reason, msg, &line, true)),
            },
        };
        let id = headers
            .get("warc-record-id")
            .map_or("(no record id)".to_string(), |v| {
                v.trim_matches(|c| c == '<' || c == '>').to_string()
            });
        let Some(len) = headers
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok())
        else {
            let msg = format!("{id}: no valid Content-Length");
            return Ok(bad("malformed_record", msg, b"", true));
        };
        if len > self.max_record_bytes {
            let skipped = std::io::copy(&mut s.by_ref().take(len), &mut std::io::sink())?;
            self.bytes += skipped;
            let msg = format!(
                "{id}: record of {len} bytes is over run.max_record_bytes = {}",
                self.max_record_bytes
            );
            let resync = skipped < len;
            return Ok(bad("record_too_large", msg, b"", resync));
        }
        let mut block = Vec::with_capacity(len as usize);
        s.by_ref().take(len).read_to_end(&mut block)?;
        self.bytes += block.len() as u64;
        if (block.len() as u64) < len {
            let msg = format!(
                "{id}: Content-Length says {len} bytes, the record has {} before its end",
                block.len()
            );
            return Ok(bad("truncated_input", msg, &block, true));
        }
        // Line ends close a record (two in WARC, one in ARC): anything else means the length
        // was wrong.
        let ends = if arc { 1 } else { 4 };
        let mut trailer = [0u8; 4];
        let got = s.by_ref().take(ends).read(&mut trailer)?;
        let got = got
            + s.by_ref()
                .take(ends - got as u64)
                .read(&mut trailer[got..])?;
        if got > 0 && !trailer[..got].iter().all(|b| *b == b'\r' || *b == b'\n') {
            let msg = format!("{id}: Content-Length {len} does not end at the record's end");
            return Ok(bad("malformed_record", msg, &block, true));
        }
        Ok(Raw::Record(RawRecord {
            headers,
            block,
            offset,
        }))
    }

    /// Skips to the next record after damage.
    fn resync(&mut self) -> std::io::Result<()> {
        let s = self.stream.as_mut().expect("opened");
        if s.gz {
            if !s.resync()? {
                self.done = true;
            }
            return Ok(());
        }
        let mut line = Vec::new();
        let arc = self.arc;
        loop {
            let at = s.offset;
            if Self::line(s, &mut line)?.is_none() {
                break;
            }
            if is_record_line(&line, arc) {
                self.pending_line = Some((line, at));
                return Ok(());
            }
        }
        self.done = true;
        Ok(())
    }

    fn skip(&mut self, kind: &str) {
        *self
            .skipped
            .entry(format!("warc_skipped.{kind}"))
            .or_default() += 1;
    }

    /// A record as a document, or why not; `None` for a kind that is skipped.
    fn convert(&mut self, r: RawRecord) -> Option<Record> {
        let kind = r.header("warc-type").unwrap_or("").to_ascii_lowercase();
        let (status, ctype, body) = match kind.as_str() {
            "response" => match parse_http(&r.block) {
                Some(h) => h,
                None => {
                    let detail = format!("@{}: {}: not an HTTP response", r.offset, r.id());
                    return Some(self.quarantine("malformed_record", detail, &r.block));
                }
            },
            "conversion" | "resource" => {
                let ct = r.header("content-type").unwrap_or("text/plain").to_string();
                (None, ct, &r.block[..])
            }
            "" => {
                let detail = format!("@{}: {}: no WARC-Type", r.offset, r.id());
                return Some(self.quarantine("malformed_record", detail, b""));
            }
            other => {
                let kind = if other.len() <= 16 && other.bytes().all(|b| b.is_ascii_lowercase()) {
                    other.to_string()
                } else {
                    "other".into()
                };
                self.skip(&kind);
                return None;
            }
        };
        if let Some(code) = status.filter(|c| !(200..300).contains(c)) {
            self.skip(&format!("status_{}xx", code / 100));
            return None;
        }
        let (essence, charset) = split_content_type(&ctype);
        let html = matches!(essence.as_str(), "text/html" | "application/xhtml+xml");
        if !self.content_types.contains(&essence) {
            let top = essence.split('/').next().unwrap_or("");
            let top = match top {
                "image" | "audio" | "video" | "application" | "font" | "text" | "multipart" => top,
                _ => "other",
            };
            self.skip(&format!("type_{top}"));
            return None;
        }
        let loc = format!("@{}: {}", r.offset, r.id());
        if looks_binary(body) {
            let detail = format!("{loc}: binary bytes served as {essence}");
            return Some(self.quarantine("binary_content", detail, b""));
        }
        let (text, enc) = match decode_text(body, charset.as_deref(), html) {
            Ok(t) => t,
            Err(enc) => {
                let detail = format!("{loc}: not decodable as {enc}");
                return Some(self.quarantine("undecodable_text", detail, body));
            }
        };
        if text.trim().is_empty() {
            let detail = format!("{loc}: empty body");
            return Some(self.quarantine("empty_file", detail, b""));
        }
        let mut meta = Map::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                meta.insert(k.into(), Value::String(v.to_string()));
            }
        };
        put("url", r.header("warc-target-uri"));
        put("warc_date", r.header("warc-date"));
        put("warc_record_id", Some(r.id()));
        put("warc_type", Some(&kind));
        put("content_type", Some(&essence));
        put("charset", Some(enc));
        put("language", r.header("warc-identified-content-language"));
        if let Some(s) = status {
            meta.insert("http_status".into(), Value::from(s));
        }
        meta.insert("warc_offset".into(), Value::from(r.offset));
        Some(Record::Doc(Document {
            id: r.id().to_string(),
            text,
            source: self.name.clone(),
            domain: self.default_domain.clone(),
            meta: Some(Value::Object(meta).to_string()),
        }))
    }
}

/// An ARC header line (`URL IP DATE TYPE [more…] LENGTH`) as the WARC fields the reader uses.
fn arc_headers(line: &[u8]) -> Fields {
    let text = String::from_utf8_lossy(line);
    let f: Vec<&str> = text.split_whitespace().collect();
    let (url, date) = (f[0], f[2]);
    let kind = match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("filedesc") => "warcinfo",
        Some("http" | "https") => "response",
        _ => "other",
    };
    let iso = match date.len() >= 14 && date.bytes().all(|b| b.is_ascii_digit()) {
        true => format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[0..4],
            &date[4..6],
            &date[6..8],
            &date[8..10],
            &date[10..12],
            &date[12..14]
        ),
        false => date.to_string(),
    };
    BTreeMap::from([
        ("warc-type".to_string(), kind.to_string()),
        ("warc-target-uri".to_string(), url.to_string()),
        ("warc-date".to_string(), iso),
        ("warc-record-id".to_string(), format!("arc:{date}:{url}")),
        ("content-length".to_string(), f[f.len() - 1].to_string()),
    ])
}

/// (status, content type, body) of an HTTP response block; `None` if it is not one.
fn parse_http(block: &[u8]) -> Option<(Option<u16>, String, &[u8])> {
    let (head, body) = match memchr::memmem::find(block, b"\r\n\r\n") {
        Some(i) => (&block[..i], &block[i + 4..]),
        None => match memchr::memmem::find(block, b"\n\n") {
            Some(i) => (&block[..i], &block[i + 2..]),
            None => (block, &block[block.len()..]),
        },
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let status_line = lines.next()?;
    if !status_line.starts_with("HTTP/") {
        return None;
    }
    let status = status_line.split_whitespace().nth(1)?.parse::<u16>().ok()?;
    let mut ctype = String::from("application/octet-stream");
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-type") {
                ctype = v.trim().to_string();
            }
        }
    }
    Some((Some(status), ctype, body))
}

/// (lower-case `type/subtype`, charset parameter) of a Content-Type value.
fn split_content_type(v: &str) -> (String, Option<String>) {
    let mut parts = v.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
    });
    (essence, charset)
}

/// NUL bytes, or mostly control bytes, in the first 8 KiB: not text whatever the header says.
fn looks_binary(body: &[u8]) -> bool {
    let head = &body[..body.len().min(8192)];
    // UTF-16 text has NULs: a BOM says it is text.
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0C | 0x1B))
        .count();
    head.contains(&0) || control * 10 > head.len()
}

/// The charset a page declares in a `<meta>` near its start.
fn meta_charset(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(4096)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&lower[from..], b"<meta") {
        let start = from + i;
        let end = memchr::memchr(b'>', &lower[start..]).map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = memchr::memmem::find(tag, b"charset=") {
            let v = &tag[c + 8..];
            let v: Vec<u8> = v
                .iter()
                .copied()
                .skip_while(|b| *b == b'"' || *b == b'\'' || *b == b' ')
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
                .collect();
            if !v.is_empty() {
                return Some(String::from_utf8_lossy(&v).into_owned());
            }
        }
        from = end;
    }
    None
}

/// The body as UTF-8 and the name of the encoding used; `Err(name)` when it does not decode
/// in the declared charset nor in the detected one.
fn decode_text(
    body: &[u8],
    http_charset: Option<&str>,
    html: bool,
) -> Result<(String, &'static str), &'static str> {
    let declared = encoding_rs::Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| http_charset.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())))
        .or_else(|| {
            html.then(|| meta_charset(body))
                .flatten()
                .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
        });
    let detect = || {
        let mut d = chardetng::EncodingDetector::new();
        d.feed(body, true);
        d.guess(None, true)
    };
    let first = declared.unwrap_or_else(detect);
    if let Some(t) = decode_strict(body, first) {
        return Ok((t, first.name()));
    }
    // A wrong declaration gets a second chance with the detected charset; text declared
    // UTF-8 does not (a stray byte in UTF-8 would be decoded as a legacy charset, mangling
    // every other character), nor does detected text.
    let second = detect();
    if declared.is_some() && first != encoding_rs::UTF_8 && second != first {
        if let Some(t) = decode_strict(body, second) {
            return Ok((t, second.name()));
        }
    }
    Err(first.name())
}

fn decode_strict(body: &[u8], enc: &'static encoding_rs::Encoding) -> Option<String> {
    let (text, _, malformed) = enc.decode(body);
    (!malformed).then(|| text.into_owned())
}

impl RecordSource for WarcSource {
    fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn next_record(&mut self, repairs: &mut Repairs) -> Result<Option<Record>, PipelineError> {
        loop {
            if self.done {
                repairs.add_counts(std::mem::take(&mut self.skipped));
                return Ok(None);
            }
            if self.stream.is_none() {
                match self.open_stream() {
                    Ok(s) => self.stream = Some(s),
                    Err(e) => {
                        self.done = true;
                        let detail = format!("cannot open: {e}");
                        return Ok(Some(self.quarantine("unreadable_file", detail, b"")));
                    }
                }
            }
            let raw = match self.next_raw() {
                Ok(r) => r,
                Err(e) => {
                    // A damaged or truncated gzip member: quarantined, the next one is read.
                    let at = self.stream.as_ref().map_or(0, |s| s.offset);
                    let detail = format!("@{at}: damaged or truncated gzip member: {e}");
                    let q = self.quarantine("truncated_input", detail, b"");
                    if let Err(e) = self.resync() {
                        tracing::debug!("{}: resync failed: {e}", self.name);
                        self.done = true;
                    }
                    return Ok(Some(q));
                }
            };
            if !matches!(raw, Raw::End) {
                self.seen = true;
            }
            match raw {
                Raw::End if !self.seen && self.range.is_none_or(|(start, _)| start == 0) => {
                    self.done = true;
                    let detail = "no WARC records (an empty file)".to_string();
                    return Ok(Some(self.quarantine("empty_file", detail, b"")));
                }
                Raw::End => self.done = true,
                Raw::Bad {
                    reason,
                    detail,
                    raw,
                    resync,
                } => {
                    let q = self.quarantine(reason, detail, &raw);
                    if resync {
                        if let Err(e) = self.resync() {
                            tracing::debug!("{}: resync failed: {e}", self.name);
                            self.done = true;
                        }
                    }
                    return Ok(Some(q));
                }
                Raw::Record(r) => {
                    if let Some(rec) = self.convert(r) {
                        return Ok(Some(rec));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{str_column, ID, META, TEXT};
    use crate::reader::{Batcher, DocSource};
    use std::io::Write;
    use std::path::Path;

    fn record(kind: &str, id: &str, extra: &[(&str, &str)], block: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{id}>\r\n\
             WARC-Target-URI: https://example.org/{id}\r\nWARC-Date: 2026-12-01T00:00:00Z\r\n"
        );
        for (k, v) in extra {
            h += &format!("{k}: {v}\r\n");
        }
        h += &format!("Content-Length: {}\r\n\r\n", block.len());
        let mut out = h.into_bytes();
        out.extend_from_slice(block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }

    fn http(status: u16, ctype: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nServer: t\r\n\r\n")
            .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn response(id: &str, status: u16, ctype: &str, body: &[u8]) -> Vec<u8> {
        let extra = [("Content-Type", "application/http; msgtype=response")];
        record("response", id, &extra, &http(status, ctype, body))
    }

    /// One gzip member per record, as Common Crawl writes them.
    fn gz(records: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(r).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    fn limits(max_record_bytes: u64) -> ReadLimits {
        ReadLimits {
            batch_size: 7,
            batch_bytes: 1 << 20,
            max_record_bytes,
        }
    }

    /// (id, text, meta) of the documents, the quarantined records, records counted, and the
    /// other counters.
    type Read = (
        Vec<(String, String, Value)>,
        Vec<Quarantined>,
        u64,
        BTreeMap<String, u64>,
    );

    fn read(path: &Path, range: Option<(u64, u64)>, max: u64) -> Read {
        let mut input = crate::reader::jsonl::tests::input();
        input.default_domain = "web".into();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let src = WarcSource::new(
            InputFile::Local(path.into()),
            name,
            range,
            &input,
            limits(max),
        );
        let mut b = Batcher::new(Box::new(src), limits(max));
        let (mut docs, mut bad, mut records, mut other) = (vec![], vec![], 0, BTreeMap::new());
        while let Some(c) = b.next_chunk().unwrap() {
            let (id, text, meta) = (
                str_column(&c.docs, ID).unwrap(),
                str_column(&c.docs, TEXT).unwrap(),
                str_column(&c.docs, META).unwrap(),
            );
            for i in 0..c.docs.num_rows() {
                let m = serde_json::from_str(meta.value(i)).unwrap();
                docs.push((id.value(i).to_string(), text.value(i).to_string(), m));
            }
            bad.extend(c.bad);
            records += c.records;
            for (k, v) in c.repairs.other {
                *other.entry(k).or_default() += v;
            }
        }
        (docs, bad, records, other)
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn records_become_documents_and_the_rest_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let page = "<html><head><title>t</title></head><body><pre>  fn main() {}\n</pre>\
                    <p>股票代码 and text</p></body></html>";
        let recs = vec![
            record(
                "warcinfo",
                "info",
                &[("Content-Type", "application/warc-fields")],
                b"software: t\r\n",
            ),
            record(
                "request",
                "req",
                &[],
                b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n",
            ),
            response("html", 200, "text/html; charset=UTF-8", page.as_bytes()),
            response("png", 200, "image/png", b"\x89PNG\r\n\x1a\n"),
            response("gone", 404, "text/html", b"<p>not found</p>"),
            response(
                "latin",
                200,
                "text/html; charset=windows-1252",
                b"<p>caf\xe9</p>",
            ),
            record(
                "resource",
                "res",
                &[("Content-Type", "text/plain")],
                b"a plain resource",
            ),
            record(
                "conversion",
                "wet",
                &[
                    ("Content-Type", "text/plain"),
                    ("WARC-Identified-Content-Language", "zho,eng"),
                ],
                "提取的文本\nsecond line".as_bytes(),
            ),
        ];
        let p = write(dir.path(), "a.warc.gz", &gz(&recs));
        let (docs, bad, records, other) = read(&p, None, 1 << 20);
        assert!(bad.is_empty(), "{bad:?}");
        let ids: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(
            ids,
            [
                "urn:uuid:html",
                "urn:uuid:latin",
                "urn:uuid:res",
                "urn:uuid:wet"
            ]
        );
        assert_eq!(docs[0].1, page, "the page is kept byte for byte");
        assert_eq!(docs[1].1, "<p>café</p>");
        assert_eq!(docs[3].1, "提取的文本\nsecond line");
        let m = &docs[0].2;
        assert_eq!(m["url"], "https://example.org/html");
        assert_eq!(m["http_status"], 200);
        assert_eq!(m["content_type"], "text/html");
        assert_eq!(m["charset"], "UTF-8");
        assert_eq!(m["warc_date"], "2026-12-01T00:00:00Z");
        assert_eq!(docs[1].2["charset"], "windows-1252");
        assert_eq!(docs[3].2["language"], "zho,eng");
        assert_eq!(docs[3].2["warc_type"], "conversion");
        assert_eq!(records, 4);
        let want: BTreeMap<String, u64> = [
            ("warc_skipped.request", 1),
            ("warc_skipped.status_4xx", 1),
            ("warc_skipped.type_image", 1),
            ("warc_skipped.warcinfo", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(other, want);
    }

    #[test]
    fn content_types_are_chosen_by_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let recs = vec![
            response("json", 200, "application/json", br#"{"a": 1}"#),
            response("html", 200, "text/html", b"<p>x</p>"),
        ];
        let p = write(dir.path(), "t.warc.gz", &gz(&recs));
        let mut input = crate::reader::jsonl::tests::input();
        input.content_types = vec!["Application/JSON".into()];
        let src = WarcSource::new(
            InputFile::Local(p),
            "t".into(),
            None,
            &input,
            limits(1 << 20),
        );
        let mut b = Batcher::new(Box::new(src), limits(1 << 20));
        let c = b.next_chunk().unwrap().unwrap();
        assert_eq!(str_column(&c.docs, ID).unwrap().value(0), "urn:uuid:json");
        assert_eq!(c.docs.num_rows(), 1);
        assert_eq!(c.repairs.other.get("warc_skipped.type_text"), Some(&1));
    }

    #[test]
    fn charsets_come_from_the_page_or_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (gbk, _, _) = encoding_rs::GBK.encode("<p>中文网页的正文内容，用于检测编码。</p>");
        let mut meta_gbk = b"<html><head><meta charset=\"gbk\"></head><body>".to_vec();
        meta_gbk.extend_from_slice(&gbk);
        let (sjis, _, _) = encoding_rs::SHIFT_JIS
            .encode("<p>日本語のテキストです。これは文字コードを判定するための文章です。</p>");
        let recs = vec![
            response("meta", 200, "text/html", &meta_gbk),
            response("detected", 200, "text/html", &sjis),
            response("bogus-label", 200, "text/html; charset=x-no-such", &sjis),
            response(
                "bad-utf8",
                200,
                "text/html; charset=utf-8",
                b"<p>ok \xff\xfe broken</p>",
            ),
        ];
        let p = write(dir.path(), "c.warc.gz", &gz(&recs));
        let (docs, bad, _, _) = read(&p, None, 1 << 20);
        assert!(docs[0].1.contains("中文网页的正文内容"), "{}", docs[0].1);
        assert_eq!(docs[0].2["charset"], "GBK");
        assert!(docs[1].1.contains("日本語のテキスト"), "{}", docs[1].1);
        assert_eq!(docs[1].2["charset"], "Shift_JIS");
        assert_eq!(docs[2].1, docs[1].1);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].reason, "undecodable_text");
        assert!(bad[0].detail.contains("urn:uuid:bad-utf8") && bad[0].detail.contains("UTF-8"));
    }

    #[test]
    fn damaged_members_and_records_are_quarantined_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let ok = |id: &str| response(id, 200, "text/plain", format!("text of {id}").as_bytes());
        let mut short = ok("short-length");
        // A Content-Length 5 bytes short of the block.
        let at = memchr::memmem::find(&short, b"Content-Length: ").unwrap() + 16;
        let end = at + memchr::memchr(b'\r', &short[at..]).unwrap();
        let n: usize = std::str::from_utf8(&short[at..end])
            .unwrap()
            .parse()
            .unwrap();
        short.splice(at..end, (n - 5).to_string().bytes());
        let mut long = ok("long-length");
        let at = memchr::memmem::find(&long, b"Content-Length: ").unwrap() + 16;
        let end = at + memchr::memchr(b'\r', &long[at..]).unwrap();
        long.splice(at..end, (n + 50).to_string().bytes());
        let big = response("big", 200, "text/plain", &vec![b'a'; 3 << 20]);
        let binary = response(
            "bin",
            200,
            "text/html",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0",
        );
        let mut bytes = gz(&[ok("one"), short, ok("two"), long, ok("three")]);
        let garbage_at = bytes.len();
        bytes.extend_from_slice(b"this is not gzip at all \x1f\x8b but close");
        bytes.extend(gz(&[ok("four"), big, binary, ok("five")]));
        let last_at = bytes.len();
        let last = gz(&[ok("truncated")]);
        bytes.extend_from_slice(&last[..last.len() - 12]);
        let p = write(dir.path(), "d.warc.gz", &bytes);
        let (docs, bad, records, _) = read(&p, None, 1 << 20);
        let ids: Vec<&str> = docs
            .iter()
            .map(|d| d.0.trim_start_matches("urn:uuid:"))
            .collect();
        assert_eq!(ids, ["one", "two", "three", "four", "five"]);
        let reasons: Vec<&str> = bad.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                "malformed_record",
                "truncated_input",
                "truncated_input",
                "record_too_large",
                "binary_content",
                "truncated_input"
            ],
            "{bad:#?}"
        );
        assert!(
            bad[0].detail.contains("urn:uuid:short-length"),
            "{}",
            bad[0].detail
        );
        assert!(
            bad[1].detail.contains("urn:uuid:long-length"),
            "{}",
            bad[1].detail
        );
        assert!(
            bad[2].detail.contains(&format!("@{garbage_at}:")),
            "{}",
            bad[2].detail
        );
        assert!(bad[3].detail.contains("urn:uuid:big"), "{}", bad[3].detail);
        assert!(
            bad[5]
                .detail
                .starts_with(&format!("d.warc.gz: @{last_at}:")),
            "{}",
            bad[5].detail
        );
        assert_eq!(records, 11);
    }

    #[test]
    fn a_big_file_is_cut_at_member_starts_and_its_parts_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let recs: Vec<Vec<u8>> = (0..300)
            .map(|i| {
                let body: String = (0..40)
                    .map(|k| format!("word{} ", (i * 7919 + k * 31) % 1000))
                    .collect();
                response(&format!("r{i}"), 200, "text/plain", body.as_bytes())
            })
            .collect();
        let p = write(dir.path(), "big.warc.gz", &gz(&recs));
        let file = InputFile::Local(p.clone());
        let size = std::fs::metadata(&p).unwrap().len();
        let parts = WarcFormat.parts(&file, size, 16 << 10).unwrap();
        assert!(parts.len() >= 4, "{}", parts.len());
        let whole = read(&p, None, 1 << 20);
        let mut docs = vec![];
        let mut records = 0;
        for (part, _) in &parts {
            let Part::Range { start, end, .. } = *part else {
                panic!("a range")
            };
            assert!(start == 0 || starts_record(&file, start).unwrap());
            let (d, bad, r, _) = read(&p, Some((start, end)), 1 << 20);
            assert!(bad.is_empty(), "{bad:?}");
            docs.extend(d);
            records += r;
        }
        assert!(docs == whole.0, "the parts read what the whole file reads");
        assert_eq!((records, docs.len()), (300, 300));
        // A plain .warc reads the same records (at other offsets).
        let plain: Vec<u8> = recs.concat();
        let pp = write(dir.path(), "big.warc", &plain);
        let texts = |d: &[(String, String, Value)]| -> Vec<(String, String)> {
            d.iter().map(|(i, t, _)| (i.clone(), t.clone())).collect()
        };
        assert!(texts(&read(&pp, None, 1 << 20).0) == texts(&whole.0));
    }

    #[test]
    fn a_plain_file_resyncs_at_the_next_record_and_an_empty_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let ok = |id: &str| response(id, 200, "text/plain", format!("text of {id}").as_bytes());
        let mut bytes = ok("a");
        bytes.extend_from_slice(b"junk line\r\nmore junk\r\n");
        bytes.extend(ok("b"));
        let p = write(dir.path(), "p.warc", &bytes);
        let (docs, bad, _, _) = read(&p, None, 1 << 20);
        assert_eq!(docs.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].reason, "malformed_record");
        let e = write(dir.path(), "e.warc.gz", b"");
        let (docs, bad, records, _) = read(&e, None, 1 << 20);
        assert!(docs.is_empty());
        assert_eq!((bad[0].reason, records), ("empty_file", 1));
    }

    /// An ARC record: its header line and block, closed by one newline.
    fn arc_record(url: &str, date: &str, ctype: &str, block: &[u8]) -> Vec<u8> {
        let mut r = format!("{url} 192.0.2.1 {date} {ctype} {}\n", block.len()).into_bytes();
        r.extend_from_slice(block);
        r.push(b'\n');
        r
    }

    #[test]
    fn arc_files_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let desc = b"1 0 Example\nURL IP-address Archive-date Content-type Archive-length\n";
        let recs = vec![
            arc_record("filedesc://x.arc", "20050614070159", "text/plain", desc),
            arc_record(
                "dns:example.org",
                "20050614070200",
                "text/dns",
                b"example.org. 300 IN A 192.0.2.1",
            ),
            arc_record(
                "http://example.org/a",
                "20050614070201",
                "text/html",
                &http(
                    200,
                    "text/html; charset=iso-8859-1",
                    b"<p>caf\xe9 au lait</p>",
                ),
            ),
            arc_record(
                "http://example.org/b.png",
                "20050614070202",
                "image/png",
                &http(200, "image/png", b"\x89PNG"),
            ),
        ];
        for (name, bytes) in [("a.arc.gz", gz(&recs)), ("a.arc", recs.concat())] {
            let p = write(dir.path(), name, &bytes);
            let (docs, bad, records, other) = read(&p, None, 1 << 20);
            assert!(bad.is_empty(), "{name}: {bad:?}");
            assert_eq!(records, 1, "{name}");
            assert_eq!(docs[0].0, "arc:20050614070201:http://example.org/a");
            assert_eq!(docs[0].1, "<p>café au lait</p>");
            assert_eq!(docs[0].2["warc_date"], "2005-06-14T07:02:01Z");
            assert_eq!(docs[0].2["url"], "http://example.org/a");
            let skipped: Vec<&String> = other.keys().collect();
            assert_eq!(
                skipped,
                [
                    "warc_skipped.other",
                    "warc_skipped.type_image",
                    "warc_skipped.warcinfo"
                ],
                "{name}"
            );
        }
        // A big .arc.gz is cut at member starts too.
        let many: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                let body = format!("<p>page {i} {}</p>", "words ".repeat(50 + i % 7));
                arc_record(
                    &format!("http://e.org/{i}"),
                    "20050614070201",
                    "text/html",
                    &http(200, "text/html", body.as_bytes()),
                )
            })
            .collect();
        let p = write(dir.path(), "many.arc.gz", &gz(&many));
        let file = InputFile::Local(p.clone());
        let parts = WarcFormat
            .parts(&file, std::fs::metadata(&p).unwrap().len(), 4 << 10)
            .unwrap();
        assert!(parts.len() >= 3, "{}", parts.len());
        let n: usize = parts
            .iter()
            .map(|(part, _)| {
                let Part::Range { start, end, .. } = *part else {
                    panic!("a range")
                };
                read(&p, Some((start, end)), 1 << 20).0.len()
            })
            .sum();
        assert_eq!(n, 200);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// A real file with bytes flipped and its end cut off: no panic, and every record
        /// read is a document or a quarantined record.
        #[test]
        fn damaged_files_never_panic(
            flips in proptest::collection::vec((0usize..100_000, proptest::prelude::any::<u8>()), 0..6),
            cut in 0usize..100_000,
            plain in proptest::prelude::any::<bool>(),
        ) {
            let recs: Vec<Vec<u8>> = (0..20)
                .map(|i| response(&format!("r{i}"), 200, "text/html", format!("<p>page {i} text</p>").as_bytes()))
                .collect();
            let mut bytes = if plain { recs.concat() } else { gz(&recs) };
            let n = bytes.len();
            for (at, v) in flips {
                bytes[at % n] = v;
            }
            bytes.truncate(n - cut % n);
            let dir = tempfile::tempdir().unwrap();
            let p = write(dir.path(), if plain { "f.warc" } else { "f.warc.gz" }, &bytes);
            let (docs, bad, records, _) = read(&p, None, 1 << 20);
            proptest::prop_assert_eq!(docs.len() as u64 + bad.len() as u64, records);
            proptest::prop_assert!(records >= 1);
        }
    }
}

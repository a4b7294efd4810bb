//! One immutable segment of a persistent dedup index: one file holding the sorted keys of
//! one run's (or, after compaction, several runs') surviving documents, each with the
//! document number it belongs to, the documents' ids and source files, and for MinHash
//! verification their shingle sets or signatures.
//!
//! Layout (little-endian): entries (key, doc u32) sorted by key then doc · document index
//! (u64 offsets, docs + 1) · documents (u32 id length, id, source) · extra index and extra
//! blobs (only with an extra kind) · bucket table (u64 entry index per top-`bits` key
//! prefix, 2^bits + 1) · header JSON · header length u64 · magic. The header records the
//! sections, the runs (with their document ranges) and the xxh3-64 of every byte before it.
//! Written as a stream (sections go to temporary files and are joined at the end), read
//! memory-mapped: a lookup is one bucket read and a binary search inside it.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use pipeline::durable::WritebackFile;
use pipeline::StageError;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::records::ioe;

const MAGIC: &[u8; 8] = b"SLDXSEG1";

/// A key of a segment: a 128-bit text hash (exact) or a 64-bit band key (MinHash).
pub trait IndexKey: Copy + Ord + Send + Sync {
    const BYTES: usize;
    fn put(&self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
    /// The top `bits` bits (keys are hashes, so these spread evenly).
    fn top(&self, bits: u32) -> usize;
}

impl IndexKey for u64 {
    const BYTES: usize = 8;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        u64::from_le_bytes(b[..8].try_into().unwrap())
    }
    fn top(&self, bits: u32) -> usize {
        (self >> (64 - bits)) as usize
    }
}

impl IndexKey for u128 {
    const BYTES: usize = 16;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        u128::from_le_bytes(b[..16].try_into().unwrap())
    }
    fn top(&self, bits: u32) -> usize {
        (self >> (128 - bits)) as usize
    }
}

/// What a segment keeps per document besides its id and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extra {
    None,
    /// MinHash signatures (u32 each, raw).
    Sigs,
    /// Sorted shingle hashes, delta- and varint-coded.
    Shingles,
}

/// The runs a segment holds: run `run` owns documents `first_doc..first_doc + docs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRun {
    pub run: String,
    pub fingerprint: String,
    pub first_doc: u64,
    pub docs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    key_bytes: usize,
    bucket_bits: u32,
    entries: u64,
    docs: u64,
    extra: Extra,
    runs: Vec<SegmentRun>,
    /// (offset, length) of: entries, doc index, docs, extra index, extra, buckets.
    sections: [(u64, u64); 6],
    checksum: String,
}

/// What a finished segment is, for the index manifest.
#[derive(Debug, Clone)]
pub struct SegmentSummary {
    pub checksum: String,
    pub bytes: u64,
    pub entries: u64,
    pub docs: u64,
    pub runs: Vec<SegmentRun>,
}

/// A section written to its own temporary file.
struct Section {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
}

impl Section {
    fn create(path: PathBuf) -> Result<Self, StageError> {
        let f = File::create(&path).map_err(ioe(&path))?;
        Ok(Section {
            out: BufWriter::with_capacity(1 << 16, f),
            path,
            len: 0,
        })
    }

    fn write(&mut self, b: &[u8]) -> Result<(), StageError> {
        self.len += b.len() as u64;
        self.out.write_all(b).map_err(ioe(&self.path))
    }
}

/// Writes a segment as a stream: keys in sorted order, documents in document order.
pub struct SegmentWriter<K: IndexKey> {
    bits: u32,
    counts: Vec<u64>,
    entries: Section,
    doc_idx: Section,
    docs: Section,
    extra_idx: Section,
    extra: Section,
    kind: Extra,
    n_entries: u64,
    n_docs: u64,
    last: Option<(K, u32)>,
    runs: Vec<SegmentRun>,
    buf: Vec<u8>,
}

/// Bucket bits for about 8 entries a bucket, 2^4..=2^20 buckets.
fn bucket_bits(expected: u64) -> u32 {
    let want = (expected / 8).max(1);
    (64 - want.leading_zeros()).clamp(4, 20)
}

impl<K: IndexKey> SegmentWriter<K> {
    /// A writer whose temporary sections live in `staging` (created); `expected` entries
    /// size the bucket table.
    pub fn create(staging: &Path, expected: u64, kind: Extra) -> Result<Self, StageError> {
        std::fs::create_dir_all(staging).map_err(ioe(staging))?;
        let sec = |n: &str| Section::create(staging.join(n));
        let bits = bucket_bits(expected);
        let mut w = SegmentWriter {
            bits,
            counts: vec![0; 1 << bits],
            entries: sec("entries")?,
            doc_idx: sec("doc_idx")?,
            docs: sec("docs")?,
            extra_idx: sec("extra_idx")?,
            extra: sec("extra")?,
            kind,
            n_entries: 0,
            n_docs: 0,
            last: None,
            runs: vec![],
            buf: Vec::with_capacity(64),
        };
        w.doc_idx.write(&0u64.to_le_bytes())?;
        if kind != Extra::None {
            w.extra_idx.write(&0u64.to_le_bytes())?;
        }
        Ok(w)
    }

    /// Adds an entry; entries must come in (key, doc) order.
    pub fn push_entry(&mut self, key: K, doc: u32) -> Result<(), StageError> {
        if self.last.is_some_and(|l| l > (key, doc)) {
            return Err(StageError::Internal(
                "dedup index: segment entries out of order".into(),
            ));
        }
        if self.last == Some((key, doc)) {
            return Ok(());
        }
        self.last = Some((key, doc));
        self.counts[key.top(self.bits)] += 1;
        self.buf.clear();
        key.put(&mut self.buf);
        self.buf.extend_from_slice(&doc.to_le_bytes());
        self.n_entries += 1;
        let b = std::mem::take(&mut self.buf);
        let r = self.entries.write(&b);
        self.buf = b;
        r
    }

    /// Adds the next document (its number is the count so far) with its extra values.
    pub fn push_doc(&mut self, id: &str, source: &str, extra: &[u32]) -> Result<(), StageError> {
        let mut rec = Vec::with_capacity(4 + id.len() + source.len());
        rec.extend_from_slice(&(id.len() as u32).to_le_bytes());
        rec.extend_from_slice(id.as_bytes());
        rec.extend_from_slice(source.as_bytes());
        self.docs.write(&rec)?;
        let end = self.docs.len;
        self.doc_idx.write(&end.to_le_bytes())?;
        match self.kind {
            Extra::None => {}
            Extra::Sigs => {
                let b: Vec<u8> = extra.iter().flat_map(|v| v.to_le_bytes()).collect();
                self.extra.write(&b)?;
            }
            Extra::Shingles => self.extra.write(&encode_sorted(extra))?,
        }
        if self.kind != Extra::None {
            let end = self.extra.len;
            self.extra_idx.write(&end.to_le_bytes())?;
        }
        self.n_docs += 1;
        Ok(())
    }

    /// Records that the documents from `first_doc` on, `docs` of them, are run `run`'s.
    pub fn add_run(&mut self, run: SegmentRun) {
        self.runs.push(run);
    }

    /// Joins the sections into `path` (through a temporary name) and removes the staging.
    pub fn finish(self, path: &Path) -> Result<SegmentSummary, StageError> {
        let mut buckets = Vec::with_capacity((self.counts.len() + 1) * 8);
        let mut acc = 0u64;
        buckets.extend_from_slice(&acc.to_le_bytes());
        for c in &self.counts {
            acc += c;
            buckets.extend_from_slice(&acc.to_le_bytes());
        }
        let tmp = pipeline::writer::tmp_path(path);
        let mut out =
            BufWriter::with_capacity(1 << 20, WritebackFile::create(&tmp).map_err(ioe(&tmp))?);
        let mut hasher = Xxh3::new();
        let mut sections = [(0u64, 0u64); 6];
        let mut at = 0u64;
        let parts = [
            self.entries,
            self.doc_idx,
            self.docs,
            self.extra_idx,
            self.extra,
        ];
        let mut copy = |bytes: &[u8], hasher: &mut Xxh3| -> Result<(), StageError> {
            hasher.update(bytes);
            out.write_all(bytes).map_err(ioe(&tmp))
        };
        for (i, mut s) in parts.into_iter().enumerate() {
            s.out.flush().map_err(ioe(&s.path))?;
            drop(s.out);
            let mut f = File::open(&s.path).map_err(ioe(&s.path))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).map_err(ioe(&s.path))?;
                if n == 0 {
                    break;
                }
                copy(&buf[..n], &mut hasher)?;
            }
            std::fs::remove_file(&s.path).map_err(ioe(&s.path))?;
            sections[i] = (at, s.len);
            at += s.len;
        }
        copy(&buckets, &mut hasher)?;
        sections[5] = (at, buckets.len() as u64);
        let checksum = format!("{:016x}", hasher.digest());
        let header = Header {
            key_bytes: K::BYTES,
            bucket_bits: self.bits,
            entries: self.n_entries,
            docs: self.n_docs,
            extra: self.kind,
            runs: self.runs.clone(),
            sections,
            checksum: checksum.clone(),
        };
        let json = serde_json::to_vec(&header).expect("header serializes");
        out.write_all(&json).map_err(ioe(&tmp))?;
        out.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(ioe(&tmp))?;
        out.write_all(MAGIC).map_err(ioe(&tmp))?;
        let f = out
            .into_inner()
            .map_err(|e| StageError::io(&tmp, e.into_error()))?;
        f.sync_all().map_err(ioe(&tmp))?;
        drop(f);
        pipeline::durable::rename_durable(&tmp, path).map_err(ioe(path))?;
        Ok(SegmentSummary {
            checksum,
            bytes: std::fs::metadata(path).map_err(ioe(path))?.len(),
            entries: self.n_entries,
            docs: self.n_docs,
            runs: self.runs,
        })
    }
}

/// Sorted u32 values as varint-coded gaps.
fn encode_sorted(vals: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(vals.len() * 3);
    let mut prev = 0u32;
    for &v in vals {
        let mut d = v.wrapping_sub(prev);
        prev = v;
        loop {
            let b = (d & 0x7F) as u8;
            d >>= 7;
            if d == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    out
}

fn decode_sorted(b: &[u8]) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(b.len() / 2);
    let (mut prev, mut cur, mut shift) = (0u32, 0u32, 0u32);
    for &x in b {
        if shift > 28 {
            return None;
        }
        cur |= u32::from(x & 0x7F) << shift;
        if x & 0x80 == 0 {
            prev = prev.wrapping_add(cur);
            out.push(prev);
            (cur, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(out)
}

/// A segment opened for lookups (memory-mapped).
pub struct Segment {
    path: PathBuf,
    map: Mmap,
    header: Header,
}

impl Segment {
    /// Opens `path`, checking its framing and that its keys are `key_bytes` wide (the
    /// checksum is checked by [`verify`](Self::verify), which reads every byte).
    pub fn open(path: &Path, key_bytes: usize) -> Result<Segment, StageError> {
        let f = File::open(path).map_err(ioe(path))?;
        // SAFETY: segments are immutable once renamed into place; nothing writes them.
        let map = unsafe { Mmap::map(&f) }.map_err(ioe(path))?;
        let bad = |what: &str| {
            StageError::corrupt(path, format!("not a whole dedup index segment: {what}"))
        };
        let n = map.len();
        if n < 16 || &map[n - 8..] != MAGIC {
            return Err(bad("no end marker"));
        }
        let hlen = u64::from_le_bytes(map[n - 16..n - 8].try_into().unwrap()) as usize;
        if hlen > n - 16 {
            return Err(bad("header length"));
        }
        let header: Header =
            serde_json::from_slice(&map[n - 16 - hlen..n - 16]).map_err(|_| bad("header"))?;
        let body = (n - 16 - hlen) as u64;
        let fits = header.sections.iter().all(|&(o, l)| o + l <= body)
            && header.sections[0].1 == header.entries * (header.key_bytes as u64 + 4)
            && header.sections[1].1 == (header.docs + 1) * 8
            && header.sections[5].1 == ((1u64 << header.bucket_bits) + 1) * 8;
        if !fits {
            return Err(bad("section sizes"));
        }
        if header.key_bytes != key_bytes {
            return Err(bad("key width of another dedup kind"));
        }
        Ok(Segment {
            path: path.to_path_buf(),
            map,
            header,
        })
    }

    /// Recomputes the checksum over every byte.
    pub fn verify(&self) -> Result<(), StageError> {
        let body = self.header.sections[5].0 + self.header.sections[5].1;
        let sum = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(&self.map[..body as usize])
        );
        match sum == self.header.checksum {
            true => Ok(()),
            false => Err(StageError::corrupt(&self.path, "checksum mismatch")),
        }
    }

    pub fn checksum(&self) -> &str {
        &self.header.checksum
    }

    pub fn runs(&self) -> &[SegmentRun] {
        &self.header.runs
    }

    pub fn docs(&self) -> u64 {
        self.header.docs
    }

    pub fn entries(&self) -> u64 {
        self.header.entries
    }

    pub fn extra_kind(&self) -> Extra {
        self.header.extra
    }

    fn section(&self, i: usize) -> &[u8] {
        let (o, l) = self.header.sections[i];
        &self.map[o as usize..(o + l) as usize]
    }

    fn u64_at(&self, sec: usize, i: u64) -> u64 {
        let s = self.section(sec);
        let at = i as usize * 8;
        u64::from_le_bytes(s[at..at + 8].try_into().unwrap())
    }

    /// Entry `i` as (key, doc).
    pub fn entry<K: IndexKey>(&self, i: u64) -> (K, u32) {
        let w = K::BYTES + 4;
        let e = &self.section(0)[i as usize * w..(i as usize + 1) * w];
        (
            K::get(e),
            u32::from_le_bytes(e[K::BYTES..].try_into().unwrap()),
        )
    }

    /// The documents holding `key`, in document order.
    pub fn lookup<K: IndexKey>(&self, key: K, out: &mut Vec<u32>) {
        let b = key.top(self.header.bucket_bits) as u64;
        let (mut lo, hi) = (self.u64_at(5, b), self.u64_at(5, b + 1));
        let mut len = hi - lo;
        while len > 0 {
            let half = len / 2;
            if self.entry::<K>(lo + half).0 < key {
                lo += half + 1;
                len -= half + 1;
            } else {
                len = half;
            }
        }
        while lo < hi {
            let (k, d) = self.entry::<K>(lo);
            if k != key {
                break;
            }
            out.push(d);
            lo += 1;
        }
    }

    /// (id, source) of document `d`.
    pub fn doc(&self, d: u32) -> Result<(String, String), StageError> {
        self.check_doc(d)?;
        let (a, b) = (self.u64_at(1, d as u64), self.u64_at(1, d as u64 + 1));
        let docs = self.section(2);
        let bad = || StageError::corrupt(&self.path, format!("document {d} is damaged"));
        let rec = docs.get(a as usize..b as usize).ok_or_else(bad)?;
        let n = u32::from_le_bytes(rec.get(..4).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let id = rec.get(4..4 + n).ok_or_else(bad)?;
        let src = &rec[4 + n..];
        Ok((
            String::from_utf8(id.to_vec()).map_err(|_| bad())?,
            String::from_utf8(src.to_vec()).map_err(|_| bad())?,
        ))
    }

    /// Document `d`'s shingle set or signature (empty without an extra kind).
    pub fn extra(&self, d: u32) -> Result<Vec<u32>, StageError> {
        self.check_doc(d)?;
        if self.header.extra == Extra::None {
            return Ok(vec![]);
        }
        let (a, b) = (self.u64_at(3, d as u64), self.u64_at(3, d as u64 + 1));
        let bad = || StageError::corrupt(&self.path, format!("document {d}'s extra is damaged"));
        let raw = self
            .section(4)
            .get(a as usize..b as usize)
            .ok_or_else(bad)?;
        match self.header.extra {
            Extra::Sigs => Ok(raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect()),
            _ => decode_sorted(raw).ok_or_else(bad),
        }
    }

    fn check_doc(&self, d: u32) -> Result<(), StageError> {
        match (d as u64) < self.header.docs {
            true => Ok(()),
            false => Err(StageError::corrupt(
                &self.path,
                format!("an entry names document {d} of {}", self.header.docs),
            )),
        }
    }

    /// The run owning document `d`.
    pub fn run_of(&self, d: u32) -> Option<&SegmentRun> {
        let d = d as u64;
        self.header
            .runs
            .iter()
            .find(|r| d >= r.first_doc && d < r.first_doc + r.docs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorted_values_survive_the_gap_coding(mut v in proptest::collection::vec(any::<u32>(), 0..300)) {
            v.sort_unstable();
            v.dedup();
            prop_assert_eq!(decode_sorted(&encode_sorted(&v)), Some(v));
        }

        #[test]
        fn every_key_is_found_and_no_other(keys in proptest::collection::btree_set(any::<u64>(), 1..400), probe in any::<u64>()) {
            let dir = tempfile::tempdir().unwrap();
            let keys: Vec<u64> = keys.into_iter().collect();
            let mut w = SegmentWriter::<u64>::create(&dir.path().join("st"), keys.len() as u64, Extra::Shingles).unwrap();
            for (i, k) in keys.iter().enumerate() {
                w.push_entry(*k, i as u32 / 2).unwrap();
            }
            for i in 0..keys.len().div_ceil(2) {
                w.push_doc(&format!("id{i}"), "f.jsonl", &[i as u32, i as u32 + 7]).unwrap();
            }
            let p = dir.path().join("seg");
            let s = w.finish(&p).unwrap();
            let seg = Segment::open(&p, 8).unwrap();
            seg.verify().unwrap();
            prop_assert_eq!(seg.checksum(), s.checksum.as_str());
            for (i, k) in keys.iter().enumerate() {
                let mut out = vec![];
                seg.lookup(*k, &mut out);
                prop_assert_eq!(out, vec![i as u32 / 2]);
            }
            let mut out = vec![];
            seg.lookup(probe, &mut out);
            prop_assert_eq!(out.is_empty(), !keys.contains(&probe));
            prop_assert_eq!(seg.doc(0).unwrap(), ("id0".to_string(), "f.jsonl".to_string()));
            prop_assert!(seg.doc(seg.docs() as u32).is_err());
            prop_assert_eq!(seg.extra(0).unwrap(), vec![0, 7]);
        }
    }

    #[test]
    fn a_damaged_segment_is_refused_or_fails_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::<u128>::create(&dir.path().join("st"), 3, Extra::None).unwrap();
        w.push_entry(5, 0).unwrap();
        w.push_doc("a", "x", &[]).unwrap();
        let p = dir.path().join("seg");
        w.finish(&p).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[2] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let err = Segment::open(&p, 16).unwrap().verify().unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let err = Segment::open(&p, 16).err().unwrap().to_string();
        assert!(err.contains("not a whole dedup index segment"), "{err}");
        assert!(err.contains(&p.display().to_string()), "{err}");
    }
}

//! The decontamination index file (`decont.idx`): every n-gram of every evaluation item,
//! exact and memory-mapped. Entries are (xxh3-64 of the normalised n-gram, item, offset of
//! the n-gram's text) sorted by hash, found through a table of hash-prefix buckets; a hash
//! hit is confirmed by comparing the n-gram's text, so every reported match is real.
//!
//! Layout (little-endian): a 96-byte header (magic, format version, n, normalisation
//! version, counts, section offsets), the entries (16 bytes each), the buckets
//! (`2^bits + 1` u32 entry indexes), the items (benchmark name and item id as string
//! offsets, 8 bytes each), the strings (u32 length + bytes), and an xxh3-64 of everything
//! before it, checked when the file is opened.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::DecontError;
use crate::normalize::{Tokens, NORM_VERSION};

const MAGIC: &[u8; 12] = b"SLUICEDECONT";
const FORMAT: u32 = 1;
const HEADER: usize = 96;
const ENTRY: usize = 16;

/// One evaluation item's match: which benchmark and which of its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef<'a> {
    pub benchmark: &'a str,
    pub id: &'a str,
}

/// Collects evaluation items and writes the index.
pub struct IndexBuilder {
    n: usize,
    entries: Vec<(u64, u32, u32)>,
    items: Vec<(u32, u32)>,
    strings: Vec<u8>,
    interned: HashMap<String, u32>,
    /// Items with fewer than `n` tokens: not indexed.
    pub too_short: u64,
}

impl IndexBuilder {
    pub fn new(n: usize) -> Self {
        IndexBuilder {
            n: n.max(1),
            entries: Vec::new(),
            items: Vec::new(),
            strings: Vec::new(),
            interned: HashMap::new(),
            too_short: 0,
        }
    }

    pub fn ngram(&self) -> usize {
        self.n
    }

    pub fn items(&self) -> usize {
        self.items.len()
    }

    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    fn intern(&mut self, s: &str) -> Result<u32, DecontError> {
        if let Some(&o) = self.interned.get(s) {
            return Ok(o);
        }
        let off = u32::try_from(self.strings.len())
            .map_err(|_| DecontError::TooLarge("over 4 GiB of n-gram text".into()))?;
        self.strings
            .extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.strings.extend_from_slice(s.as_bytes());
        self.interned.insert(s.to_string(), off);
        Ok(off)
    }

    /// Adds one evaluation item; false when it has fewer than `n` tokens.
    pub fn add(&mut self, benchmark: &str, id: &str, text: &str) -> Result<bool, DecontError> {
        let t = Tokens::of(text);
        if t.tokens.len() < self.n {
            self.too_short += 1;
            return Ok(false);
        }
        let item = u32::try_from(self.items.len())
            .map_err(|_| DecontError::TooLarge("over 2^32 items".into()))?;
        let (b, i) = (self.intern(benchmark)?, self.intern(id)?);
        self.items.push((b, i));
        for (_, h, w) in t.windows(self.n) {
            let off = self.intern(w)?;
            self.entries.push((h, item, off));
        }
        Ok(true)
    }

    /// Writes the index to `path` (through a temporary file and a rename: a killed build
    /// leaves no index).
    pub fn write(mut self, path: &Path) -> Result<(), DecontError> {
        if self.items.is_empty() {
            return Err(DecontError::NoText(format!(
                "no evaluation item has {} or more tokens ({} shorter ones); lower --ngram or \
                 choose other --fields",
                self.n, self.too_short
            )));
        }
        self.entries.sort_unstable();
        self.entries.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
        let bits = bucket_bits(self.entries.len());
        let mut buckets = vec![0u32; (1usize << bits) + 1];
        for (h, _, _) in &self.entries {
            buckets[(h >> (64 - bits)) as usize + 1] += 1;
        }
        for k in 1..buckets.len() {
            buckets[k] += buckets[k - 1];
        }
        let mut out = Vec::with_capacity(
            HEADER + self.entries.len() * ENTRY + buckets.len() * 4 + self.strings.len() + 8,
        );
        let entries_off = HEADER;
        let buckets_off = entries_off + self.entries.len() * ENTRY;
        let items_off = buckets_off + buckets.len() * 4;
        let strings_off = items_off + self.items.len() * 8;
        out.extend_from_slice(MAGIC);
        for v in [FORMAT, self.n as u32, NORM_VERSION, bits] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.entries.len(),
            self.items.len(),
            entries_off,
            buckets_off,
            items_off,
            strings_off,
            self.strings.len(),
        ] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        out.resize(HEADER, 0);
        for (h, item, off) in &self.entries {
            out.extend_from_slice(&h.to_le_bytes());
            out.extend_from_slice(&item.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
        }
        for b in &buckets {
            out.extend_from_slice(&b.to_le_bytes());
        }
        for (b, i) in &self.items {
            out.extend_from_slice(&b.to_le_bytes());
            out.extend_from_slice(&i.to_le_bytes());
        }
        out.extend_from_slice(&self.strings);
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        let tmp = path.with_extension("idx.partial");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DecontError::io(path, e)
        })
    }
}

/// About one entry per bucket, between 2^8 and 2^24 buckets.
fn bucket_bits(entries: usize) -> u32 {
    (usize::BITS - entries.max(1).leading_zeros()).clamp(8, 24)
}

/// An index opened for lookups (memory-mapped; shared by every worker thread).
pub struct Index {
    map: Mmap,
    path: PathBuf,
    n: usize,
    bits: u32,
    entries: usize,
    items: usize,
    offs: [usize; 4],
    strings_len: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

impl Index {
    pub fn open(path: &Path) -> Result<Index, DecontError> {
        let f = std::fs::File::open(path).map_err(|e| DecontError::io(path, e))?;
        // SAFETY: the file is only read; an index is written once, through a rename.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| DecontError::io(path, e))?;
        let bad = |why: &str| DecontError::not_index(path, why);
        if map.len() < HEADER + 8 || &map[..12] != MAGIC {
            return Err(bad("no SLUICEDECONT header"));
        }
        let (format, n, norm, bits) = (
            u32_at(&map, 12),
            u32_at(&map, 16),
            u32_at(&map, 20),
            u32_at(&map, 24),
        );
        if format != FORMAT {
            return Err(bad(&format!("format {format}; this sluice reads {FORMAT}")));
        }
        if norm != NORM_VERSION {
            return Err(bad(&format!(
                "built with normalisation {norm}; this sluice uses {NORM_VERSION}: rebuild it"
            )));
        }
        let h: Vec<usize> = (0..7).map(|k| u64_at(&map, 28 + 8 * k) as usize).collect();
        let (entries, items, offs, strings_len) = (h[0], h[1], [h[2], h[3], h[4], h[5]], h[6]);
        let expect = offs[3]
            .checked_add(strings_len)
            .and_then(|e| e.checked_add(8));
        let broken = !(8..=24).contains(&bits)
            || n == 0
            || offs[0] != HEADER
            || Some(offs[1]) != entries.checked_mul(ENTRY).map(|e| e + HEADER)
            || offs[2] != offs[1] + ((1usize << bits) + 1) * 4
            || Some(offs[3]) != items.checked_mul(8).map(|i| i + offs[2]);
        if broken || expect != Some(map.len()) {
            return Err(bad(
                "truncated or damaged (its sections do not fit its size)",
            ));
        }
        let body = map.len() - 8;
        if xxh3_64(&map[..body]) != u64_at(&map, body) {
            return Err(bad("damaged (checksum mismatch)"));
        }
        Ok(Index {
            map,
            path: path.to_path_buf(),
            n: n as usize,
            bits,
            entries,
            items,
            offs,
            strings_len,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The n-gram length the index was built with.
    pub fn ngram(&self) -> usize {
        self.n
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    pub fn items(&self) -> usize {
        self.items
    }

    fn string(&self, off: u32) -> &str {
        let at = self.offs[3] + off as usize;
        let len = u32_at(&self.map, at) as usize;
        let end = (at + 4 + len).min(self.offs[3] + self.strings_len);
        std::str::from_utf8(&self.map[at + 4..end]).unwrap_or("")
    }

    fn entry(&self, k: usize) -> (u64, u32, u32) {
        let at = self.offs[0] + k * ENTRY;
        (
            u64_at(&self.map, at),
            u32_at(&self.map, at + 8),
            u32_at(&self.map, at + 12),
        )
    }

    /// The first evaluation item holding the n-gram `gram` (normalised) whose hash is `hash`.
    pub fn lookup(&self, hash: u64, gram: &str) -> Option<ItemRef<'_>> {
        let b = (hash >> (64 - self.bits)) as usize;
        let (lo, hi) = (
            u32_at(&self.map, self.offs[1] + 4 * b) as usize,
            u32_at(&self.map, self.offs[1] + 4 * b + 4) as usize,
        );
        let hi = hi.min(self.entries);
        let (mut k, mut z) = (lo.min(hi), hi);
        while k < z {
            let m = (k + z) / 2;
            match self.entry(m).0 < hash {
                true => k = m + 1,
                false => z = m,
            }
        }
        while k < hi {
            let (h, item, off) = self.entry(k);
            if h != hash {
                return None;
            }
            if self.string(off) == gram && (item as usize) < self.items {
                let at = self.offs[2] + item as usize * 8;
                return Some(ItemRef {
                    benchmark: self.string(u32_at(&self.map, at)),
                    id: self.string(u32_at(&self.map, at + 4)),
                });
            }
            k += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::gram_hash;

    fn build(dir: &Path, n: usize) -> PathBuf {
        let mut b = IndexBuilder::new(n);
        assert!(b
            .add("Bench", "q1", "The quick brown fox jumps over the lazy dog")
            .unwrap());
        assert!(b.add("Bench", "q2", "床前明月光疑是地上霜").unwrap());
        assert!(!b.add("Bench", "q3", "too short").unwrap());
        let p = dir.join("x.idx");
        b.write(&p).unwrap();
        p
    }

    #[test]
    fn finds_every_indexed_gram_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let ix = Index::open(&build(dir.path(), 4)).unwrap();
        assert_eq!((ix.ngram(), ix.items()), (4, 2));
        let g = "brown fox jumps over";
        let hit = ix.lookup(gram_hash(g), g).unwrap();
        assert_eq!((hit.benchmark, hit.id), ("Bench", "q1"));
        let g = "明 月 光 疑";
        assert_eq!(ix.lookup(gram_hash(g), g).unwrap().id, "q2");
        let g = "brown fox jumps under";
        assert!(ix.lookup(gram_hash(g), g).is_none());
        // The same hash with other text (a collision) is not a match.
        assert!(ix.lookup(gram_hash("brown fox jumps over"), "x").is_none());
    }

    #[test]
    fn truncated_foreign_and_damaged_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = build(dir.path(), 4);
        let bytes = std::fs::read(&p).unwrap();
        let t = dir.path().join("t.idx");
        for (what, b) in [
            ("truncated", bytes[..bytes.len() - 20].to_vec()),
            (
                "foreign",
                b"PK\x03\x04 not an index at all, a zip".repeat(8),
            ),
            ("empty", vec![]),
            ("damaged", {
                let mut b = bytes.clone();
                let k = b.len() - 12;
                b[k] ^= 1;
                b
            }),
        ] {
            std::fs::write(&t, b).unwrap();
            let e = Index::open(&t).err().expect(what).to_string();
            assert!(
                e.contains("t.idx") && e.contains("not a sluice"),
                "{what}: {e}"
            );
        }
    }

    #[test]
    fn nothing_long_enough_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = IndexBuilder::new(13);
        b.add("B", "1", "a few words").unwrap();
        let e = b.write(&dir.path().join("x.idx")).unwrap_err().to_string();
        assert!(e.contains("no usable text") && e.contains("13"), "{e}");
        assert!(!dir.path().join("x.idx").exists());
    }
}

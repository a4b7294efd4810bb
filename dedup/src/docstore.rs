//! Per-shard side files of a dedup run: written by the observer and read at random by
//! resolve (document ids, (length, score) for the keep rule, and optionally signatures or
//! shingle sets for verifying candidate pairs); and the entry files resolve writes for the
//! appliers (drops, cluster members), read back in row order.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pipeline::durable::WritebackFile;
use pipeline::writer::tmp_path;
use pipeline::StageError;

use crate::records::ioe;

pub(crate) fn side(dir: &Path, what: &str, shard: usize) -> PathBuf {
    dir.join(format!("{what}-{shard:05}.bin"))
}

/// A blob file plus a u64 offset index (one more entry than rows).
struct BlobWriter {
    data_path: PathBuf,
    idx_path: PathBuf,
    data: BufWriter<WritebackFile>,
    idx: BufWriter<WritebackFile>,
    pos: u64,
}

/// A buffered writer on `path`'s temporary name; [`commit`] puts it in place.
pub(crate) fn create(path: &Path) -> Result<BufWriter<WritebackFile>, StageError> {
    let tmp = tmp_path(path);
    Ok(BufWriter::with_capacity(
        1 << 16,
        WritebackFile::create(&tmp).map_err(ioe(&tmp))?,
    ))
}

pub(crate) fn commit(mut w: BufWriter<WritebackFile>, path: &Path) -> Result<(), StageError> {
    w.flush().map_err(ioe(path))?;
    drop(w);
    pipeline::durable::commit(&tmp_path(path), path).map_err(ioe(path))
}

impl BlobWriter {
    fn create(dir: &Path, what: &str, shard: usize) -> Result<Self, StageError> {
        let data_path = side(dir, what, shard);
        let idx_path = side(dir, &format!("{what}-idx"), shard);
        let mut idx = create(&idx_path)?;
        idx.write_all(&0u64.to_le_bytes()).map_err(ioe(&idx_path))?;
        Ok(BlobWriter {
            data: create(&data_path)?,
            idx,
            data_path,
            idx_path,
            pos: 0,
        })
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), StageError> {
        self.data.write_all(bytes).map_err(ioe(&self.data_path))?;
        self.pos += bytes.len() as u64;
        self.idx
            .write_all(&self.pos.to_le_bytes())
            .map_err(ioe(&self.idx_path))
    }

    fn commit(self) -> Result<(), StageError> {
        commit(self.data, &self.data_path)?;
        commit(self.idx, &self.idx_path)
    }
}

/// What the observer stores per document besides its band keys.
pub(crate) struct DocStoreWriter {
    ids: BlobWriter,
    meta_path: PathBuf,
    meta: BufWriter<WritebackFile>,
    extra: Option<BlobWriter>,
}

impl DocStoreWriter {
    /// `extra`: "sigs" or "shingles" when pairs are verified.
    pub fn create(dir: &Path, shard: usize, extra: Option<&str>) -> Result<Self, StageError> {
        std::fs::create_dir_all(dir).map_err(ioe(dir))?;
        let meta_path = side(dir, "meta", shard);
        Ok(DocStoreWriter {
            ids: BlobWriter::create(dir, "ids", shard)?,
            meta: create(&meta_path)?,
            meta_path,
            extra: extra
                .map(|e| BlobWriter::create(dir, e, shard))
                .transpose()?,
        })
    }

    /// Adds a document: its id and source file (how drops name it), length, score and extra.
    pub fn push(
        &mut self,
        id: &str,
        source: &str,
        len: u32,
        score: f32,
        extra: &[u32],
    ) -> Result<(), StageError> {
        let mut rec = Vec::with_capacity(4 + id.len() + source.len());
        rec.extend_from_slice(&(id.len() as u32).to_le_bytes());
        rec.extend_from_slice(id.as_bytes());
        rec.extend_from_slice(source.as_bytes());
        self.ids.push(&rec)?;
        let mut m = [0u8; 8];
        m[..4].copy_from_slice(&len.to_le_bytes());
        m[4..].copy_from_slice(&score.to_le_bytes());
        self.meta.write_all(&m).map_err(ioe(&self.meta_path))?;
        if let Some(x) = &mut self.extra {
            let bytes: Vec<u8> = extra.iter().flat_map(|v| v.to_le_bytes()).collect();
            x.push(&bytes)?;
        }
        Ok(())
    }

    pub fn commit(self) -> Result<(), StageError> {
        self.ids.commit()?;
        if let Some(x) = self.extra {
            x.commit()?;
        }
        commit(self.meta, &self.meta_path)
    }
}

/// At most this many side files are open at once during resolve; others are reopened on
/// demand (a run of 300 input files has 1,500 side files, more than `ulimit -n` allows).
pub(crate) const MAX_OPEN_FILES: usize = 128;

/// Open files by index, each with the tick of its last use; the clock.
type OpenFiles = (u64, HashMap<usize, (Arc<File>, u64)>);

/// Side files opened on demand and closed least-recently-used first.
struct FileCache {
    paths: Vec<PathBuf>,
    open: Mutex<OpenFiles>,
    cap: usize,
}

impl FileCache {
    fn new(paths: Vec<PathBuf>, cap: usize) -> Self {
        FileCache {
            paths,
            open: Mutex::new((0, HashMap::new())),
            cap: cap.max(1),
        }
    }

    fn get(&self, i: usize) -> Result<Arc<File>, StageError> {
        let mut guard = self.open.lock().expect("not poisoned");
        let (tick, open) = &mut *guard;
        *tick += 1;
        if let Some((f, used)) = open.get_mut(&i) {
            *used = *tick;
            return Ok(f.clone());
        }
        if open.len() >= self.cap {
            let oldest = *open
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .expect("full, so not empty")
                .0;
            open.remove(&oldest);
        }
        let p = &self.paths[i];
        let f = Arc::new(File::open(p).map_err(ioe(p))?);
        open.insert(i, (f.clone(), *tick));
        Ok(f)
    }

    fn read_at(&self, i: usize, buf: &mut [u8], at: u64) -> Result<(), StageError> {
        self.get(i)?
            .read_exact_at(buf, at)
            .map_err(ioe(&self.paths[i]))
    }
}

/// Random access to every shard's side files, with dense global document indices
/// (shard-major, run order). Files: per shard `meta`, `ids`, `ids-idx` and, with an extra
/// kind, its data and index, in that order in one [`FileCache`].
pub(crate) struct DocStore {
    files: FileCache,
    per_shard: usize,
    /// `offsets[s]` = dense index of shard s's first row; last entry = total.
    pub offsets: Vec<u64>,
    dir: PathBuf,
}

const META: usize = 0;
const IDS: usize = 1;
const EXTRA: usize = 3;

impl DocStore {
    /// Opens the side files of `shards` shards, keeping at most `max_open` open at once
    /// (stores used at the same time share [`MAX_OPEN_FILES`]).
    pub fn open(
        dir: &Path,
        shards: usize,
        extra: Option<&str>,
        max_open: usize,
    ) -> Result<Self, StageError> {
        let mut offsets = vec![0u64];
        let mut paths = vec![];
        for s in 0..shards {
            let mp = side(dir, "meta", s);
            let n = std::fs::metadata(&mp).map_err(ioe(&mp))?.len() / 8;
            offsets.push(offsets[s] + n);
            paths.push(mp);
            for what in std::iter::once("ids").chain(extra) {
                let (data, idx) = (side(dir, what, s), side(dir, &format!("{what}-idx"), s));
                for p in [&data, &idx] {
                    if !p.exists() {
                        return Err(ioe(p)(std::io::ErrorKind::NotFound.into()));
                    }
                }
                paths.extend([data, idx]);
            }
        }
        Ok(DocStore {
            files: FileCache::new(paths, max_open),
            per_shard: 3 + if extra.is_some() { 2 } else { 0 },
            offsets,
            dir: dir.to_path_buf(),
        })
    }

    /// Blob `row` of the (data, index) pair starting at file `first` of shard `s`.
    fn blob(&self, s: usize, first: usize, row: u64) -> Result<Vec<u8>, StageError> {
        let base = s * self.per_shard + first;
        let mut o = [0u8; 16];
        self.files.read_at(base + 1, &mut o, row * 8)?;
        let a = u64::from_le_bytes(o[..8].try_into().unwrap());
        let b = u64::from_le_bytes(o[8..].try_into().unwrap());
        let len = b.checked_sub(a).ok_or_else(|| {
            StageError::corrupt(
                &self.files.paths[base + 1],
                format!("index of row {row} is corrupt"),
            )
        })?;
        let mut buf = vec![0u8; len as usize];
        self.files.read_at(base, &mut buf, a)?;
        Ok(buf)
    }

    pub fn total(&self) -> u64 {
        *self.offsets.last().unwrap()
    }

    pub fn dense(&self, docref: u64) -> u64 {
        self.offsets[(docref >> 32) as usize] + (docref & 0xFFFF_FFFF)
    }

    /// (shard, row) of a dense index.
    pub fn locate(&self, dense: u64) -> (usize, u64) {
        let s = self.offsets.partition_point(|&o| o <= dense) - 1;
        (s, dense - self.offsets[s])
    }

    /// [`doc`](Self::doc) through `cache`, which starts over at [`ID_CACHE`] entries:
    /// resolve looks up the same survivors again and again.
    pub fn doc_cached(
        &self,
        cache: &mut HashMap<u64, (String, String)>,
        dense: u64,
    ) -> Result<(String, String), StageError> {
        if let Some(d) = cache.get(&dense) {
            return Ok(d.clone());
        }
        if cache.len() >= ID_CACHE {
            cache.clear();
        }
        let d = self.doc(dense)?;
        cache.insert(dense, d.clone());
        Ok(d)
    }

    /// (id, source file) of document `dense`.
    pub fn doc(&self, dense: u64) -> Result<(String, String), StageError> {
        let (s, r) = self.locate(dense);
        let rec = self.blob(s, IDS, r)?;
        let bad =
            || StageError::corrupt(&self.dir, format!("id of row {r} of shard {s} is damaged"));
        let n = u32::from_le_bytes(rec.get(..4).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let id = rec.get(4..4 + n).ok_or_else(bad)?;
        Ok((
            String::from_utf8(id.to_vec()).map_err(|_| bad())?,
            String::from_utf8(rec[4 + n..].to_vec()).map_err(|_| bad())?,
        ))
    }

    /// (length in chars, score) of a document.
    pub fn meta(&self, dense: u64) -> Result<(u32, f32), StageError> {
        let (s, r) = self.locate(dense);
        let mut m = [0u8; 8];
        self.files
            .read_at(s * self.per_shard + META, &mut m, r * 8)?;
        Ok((
            u32::from_le_bytes(m[..4].try_into().unwrap()),
            f32::from_le_bytes(m[4..].try_into().unwrap()),
        ))
    }

    pub fn extra(&self, dense: u64) -> Result<Vec<u32>, StageError> {
        let (s, r) = self.locate(dense);
        let b = self.blob(s, EXTRA, r)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
}

/// Survivor ids cached by [`DocStore::id_cached`] before the cache starts over.
const ID_CACHE: usize = 100_000;

/// Appends one entry of an entry file: `head` (starting with the row as u64 LE), the id's
/// length (u32 LE) and the id.
pub(crate) fn push_entry(out: &mut Vec<u8>, head: &[u8], id: &str) {
    out.extend_from_slice(head);
    out.extend_from_slice(&(id.len() as u32).to_le_bytes());
    out.extend_from_slice(id.as_bytes());
}

/// An entry file (see [`push_entry`]) with `H`-byte headers, the id length included, read
/// front to back as a shard's batches arrive in row order: memory holds one batch's entries,
/// not the shard's.
pub(crate) struct RowEntries<const H: usize> {
    path: PathBuf,
    /// The reader and the entry read past the last batch's end, if any.
    cursor: Mutex<(BufReader<File>, Option<Entry<H>>)>,
}

/// An entry: its header (row first, id length last) and its id.
pub(crate) type Entry<const H: usize> = ([u8; H], String);

impl<const H: usize> RowEntries<H> {
    pub fn open(path: &Path) -> Result<Self, StageError> {
        let f = File::open(path).map_err(ioe(path))?;
        Ok(RowEntries {
            path: path.to_path_buf(),
            cursor: Mutex::new((BufReader::with_capacity(1 << 16, f), None)),
        })
    }

    /// The (header, id) entries of rows `start..end`, in file order.
    pub fn take(&self, start: u64, end: u64) -> Result<Vec<Entry<H>>, StageError> {
        let mut guard = self.cursor.lock().expect("not poisoned");
        let (reader, peeked) = &mut *guard;
        let mut out = vec![];
        loop {
            let next = match peeked.take() {
                Some(e) => Some(e),
                None => self.read(reader)?,
            };
            match next {
                Some(e) if row_of(&e.0) < end => {
                    if row_of(&e.0) >= start {
                        out.push(e);
                    }
                }
                other => {
                    *peeked = other;
                    return Ok(out);
                }
            }
        }
    }

    /// The next entry, or `None` at the end of the file.
    fn read(&self, r: &mut impl Read) -> Result<Option<Entry<H>>, StageError> {
        let bad = || StageError::corrupt(&self.path, "cut short");
        let mut h = [0u8; H];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(ioe(&self.path)(e)),
        }
        let n = u32::from_le_bytes(h[H - 4..].try_into().unwrap()) as usize;
        let mut id = vec![0u8; n];
        r.read_exact(&mut id).map_err(|_| bad())?;
        Ok(Some((h, String::from_utf8(id).map_err(|_| bad())?)))
    }

    /// Bytes read from the file so far (tests).
    #[cfg(test)]
    pub fn bytes_read(&self) -> u64 {
        use std::io::Seek;
        self.cursor
            .lock()
            .unwrap()
            .0
            .get_mut()
            .stream_position()
            .unwrap()
    }
}

/// The row an entry header starts with.
pub(crate) fn row_of(head: &[u8]) -> u64 {
    u64::from_le_bytes(head[..8].try_into().unwrap())
}

//! Per-shard side files of a MinHash run, written by the observer and read at random by
//! resolve: document ids, (length, score) for the keep rule, and optionally signatures or
//! shingle sets for verifying candidate pairs.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    data: BufWriter<File>,
    idx: BufWriter<File>,
    pos: u64,
}

fn create(path: &Path) -> Result<BufWriter<File>, StageError> {
    let tmp = tmp_path(path);
    Ok(BufWriter::with_capacity(
        1 << 16,
        File::create(&tmp).map_err(ioe(&tmp))?,
    ))
}

fn commit(mut w: BufWriter<File>, path: &Path) -> Result<(), StageError> {
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
    meta: BufWriter<File>,
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

    pub fn push(
        &mut self,
        id: &str,
        len: u32,
        score: f32,
        extra: &[u32],
    ) -> Result<(), StageError> {
        self.ids.push(id.as_bytes())?;
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
}

impl FileCache {
    fn new(paths: Vec<PathBuf>) -> Self {
        FileCache {
            paths,
            open: Mutex::new((0, HashMap::new())),
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
        if open.len() >= MAX_OPEN_FILES {
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
    pub fn open(dir: &Path, shards: usize, extra: Option<&str>) -> Result<Self, StageError> {
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
            files: FileCache::new(paths),
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
            StageError::Other(format!(
                "{}: index of row {row} is corrupt",
                self.files.paths[base + 1].display()
            ))
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

    pub fn id(&self, dense: u64) -> Result<String, StageError> {
        let (s, r) = self.locate(dense);
        String::from_utf8(self.blob(s, IDS, r)?).map_err(|_| {
            StageError::Other(format!(
                "{}: id of row {r} is not UTF-8",
                self.dir.display()
            ))
        })
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

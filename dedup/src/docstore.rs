//! Per-shard side files of a MinHash run, written by the observer and read at random by
//! resolve: document ids, (length, score) for the keep rule, and optionally signatures or
//! shingle sets for verifying candidate pairs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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
    std::fs::rename(tmp_path(path), path).map_err(ioe(path))
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

struct Blob {
    data: File,
    idx: File,
    path: PathBuf,
}

impl Blob {
    fn open(dir: &Path, what: &str, shard: usize) -> Result<Self, StageError> {
        let path = side(dir, what, shard);
        let ip = side(dir, &format!("{what}-idx"), shard);
        Ok(Blob {
            data: File::open(&path).map_err(ioe(&path))?,
            idx: File::open(&ip).map_err(ioe(&ip))?,
            path,
        })
    }

    fn get(&self, row: u64) -> Result<Vec<u8>, StageError> {
        let mut o = [0u8; 16];
        self.idx
            .read_exact_at(&mut o, row * 8)
            .map_err(ioe(&self.path))?;
        let a = u64::from_le_bytes(o[..8].try_into().unwrap());
        let b = u64::from_le_bytes(o[8..].try_into().unwrap());
        let mut buf = vec![0u8; (b - a) as usize];
        self.data
            .read_exact_at(&mut buf, a)
            .map_err(ioe(&self.path))?;
        Ok(buf)
    }
}

/// Random access to every shard's side files, with dense global document indices
/// (shard-major, run order).
pub(crate) struct DocStore {
    ids: Vec<Blob>,
    meta: Vec<File>,
    extra: Vec<Blob>,
    /// `offsets[s]` = dense index of shard s's first row; last entry = total.
    pub offsets: Vec<u64>,
    dir: PathBuf,
}

impl DocStore {
    pub fn open(dir: &Path, shards: usize, extra: Option<&str>) -> Result<Self, StageError> {
        let mut offsets = vec![0u64];
        let mut meta = vec![];
        let mut ids = vec![];
        let mut ex = vec![];
        for s in 0..shards {
            let mp = side(dir, "meta", s);
            let f = File::open(&mp).map_err(ioe(&mp))?;
            let n = f.metadata().map_err(ioe(&mp))?.len() / 8;
            offsets.push(offsets[s] + n);
            meta.push(f);
            ids.push(Blob::open(dir, "ids", s)?);
            if let Some(e) = extra {
                ex.push(Blob::open(dir, e, s)?);
            }
        }
        Ok(DocStore {
            ids,
            meta,
            extra: ex,
            offsets,
            dir: dir.to_path_buf(),
        })
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
        String::from_utf8(self.ids[s].get(r)?).map_err(|_| {
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
        self.meta[s]
            .read_exact_at(&mut m, r * 8)
            .map_err(ioe(&side(&self.dir, "meta", s)))?;
        Ok((
            u32::from_le_bytes(m[..4].try_into().unwrap()),
            f32::from_le_bytes(m[4..].try_into().unwrap()),
        ))
    }

    pub fn extra(&self, dense: u64) -> Result<Vec<u32>, StageError> {
        let (s, r) = self.locate(dense);
        let b = self.extra[s].get(r)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
}

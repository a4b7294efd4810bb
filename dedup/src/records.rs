//! Fixed-size binary records on disk and an external merge sort over them, so that the
//! bucket and pair files of a dedup run can be sorted in a bounded amount of memory.
//!
//! Records are little-endian and have no framing: a file's length is a multiple of the
//! record size, and a file that is not was cut short (it is reported, never half-read).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use pipeline::durable::WritebackFile;
use pipeline::writer::tmp_path;
use pipeline::StageError;

/// A plain record of `SIZE` bytes, ordered as it must be sorted.
pub trait Record: Copy + Ord + Send + Sync {
    const SIZE: usize;
    fn put(&self, out: &mut [u8]);
    fn get(bytes: &[u8]) -> Self;
}

/// (key, doc): a band key or text hash and the document it came from.
impl Record for (u64, u64) {
    const SIZE: usize = 16;
    fn put(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.1.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
        )
    }
}

/// (hash, doc) for exact dedup, where the hash is 128 bits.
impl Record for (u128, u64) {
    const SIZE: usize = 24;
    fn put(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.0.to_le_bytes());
        out[16..24].copy_from_slice(&self.1.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        (
            u128::from_le_bytes(b[..16].try_into().unwrap()),
            u64::from_le_bytes(b[16..24].try_into().unwrap()),
        )
    }
}

/// (position, kind, kept) for exact dedup's drops: kind 0 keeps a position of this run,
/// kind 1 a document of a persistent index.
impl Record for (u64, u64, u64) {
    const SIZE: usize = 24;
    fn put(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.1.to_le_bytes());
        out[16..24].copy_from_slice(&self.2.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
            u64::from_le_bytes(b[16..24].try_into().unwrap()),
        )
    }
}

pub(crate) fn ioe(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
    move |e| StageError::io(path, e)
}

/// Writes records to `path` through a `.tmp` file; `commit` renames it into place.
pub struct RecordWriter<R: Record> {
    path: PathBuf,
    out: BufWriter<WritebackFile>,
    buf: Vec<u8>,
    pub written: u64,
    _r: std::marker::PhantomData<R>,
}

impl<R: Record> RecordWriter<R> {
    pub fn create(path: &Path) -> Result<Self, StageError> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(ioe(d))?;
        }
        let tmp = tmp_path(path);
        Ok(RecordWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, WritebackFile::create(&tmp).map_err(ioe(&tmp))?),
            buf: vec![0; R::SIZE],
            written: 0,
            _r: std::marker::PhantomData,
        })
    }

    pub fn push(&mut self, r: &R) -> Result<(), StageError> {
        r.put(&mut self.buf);
        self.written += 1;
        self.out.write_all(&self.buf).map_err(ioe(&self.path))
    }

    pub fn commit(mut self) -> Result<(), StageError> {
        self.out.flush().map_err(ioe(&self.path))?;
        drop(self.out);
        pipeline::durable::commit(&tmp_path(&self.path), &self.path).map_err(ioe(&self.path))
    }
}

/// Streams the records of one file.
pub struct RecordReader<R: Record> {
    path: PathBuf,
    inp: BufReader<File>,
    buf: Vec<u8>,
    _r: std::marker::PhantomData<R>,
}

impl<R: Record> RecordReader<R> {
    pub fn open(path: &Path) -> Result<Self, StageError> {
        let f = File::open(path).map_err(ioe(path))?;
        let len = f.metadata().map_err(ioe(path))?.len();
        if len % R::SIZE as u64 != 0 {
            return Err(StageError::corrupt(
                path,
                format!(
                    "cut short: {len} bytes is not a whole number of {}-byte records",
                    R::SIZE
                ),
            ));
        }
        Ok(RecordReader {
            path: path.to_path_buf(),
            inp: BufReader::with_capacity(1 << 16, f),
            buf: vec![0; R::SIZE],
            _r: std::marker::PhantomData,
        })
    }

    pub fn next_record(&mut self) -> Result<Option<R>, StageError> {
        match self.inp.read_exact(&mut self.buf) {
            Ok(()) => Ok(Some(R::get(&self.buf))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(StageError::io(&self.path, e)),
        }
    }
}

/// Default `partitions` of the disk-backed dedup stages.
pub(crate) fn default_partitions() -> usize {
    16
}

/// Default `memory_mb` (sort budget) of the disk-backed dedup stages.
pub(crate) fn default_memory_mb() -> usize {
    512
}

/// Checks a dedup stage's `partitions` and `memory_mb`.
pub(crate) fn check_sort_settings(partitions: usize, memory_mb: usize) -> Result<(), String> {
    if partitions == 0 || partitions > 4096 {
        return Err(format!("partitions = {partitions} must be 1..=4096"));
    }
    if memory_mb == 0 {
        return Err("memory_mb must be at least 1".into());
    }
    Ok(())
}

/// Bytes each partition's sort may hold when `workers` sort partitions at once.
pub(crate) fn sort_budget(memory_mb: usize, workers: usize, partitions: usize) -> usize {
    memory_mb * (1 << 20) / workers.clamp(1, partitions)
}

/// Runs `f` on a rayon pool of `workers` threads (the run's `--workers`).
pub(crate) fn in_pool<T: Send>(
    workers: usize,
    f: impl FnOnce() -> Result<T, StageError> + Send,
) -> Result<T, StageError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .build()
        .map_err(|e| StageError::Internal(format!("thread pool: {e}")))?
        .install(f)
}

/// Writes `bytes` to `path` through a `.tmp` file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    pipeline::durable::write_atomic(path, bytes).map_err(ioe(path))
}

/// Number of records in `path`.
pub fn count<R: Record>(path: &Path) -> Result<u64, StageError> {
    Ok(std::fs::metadata(path).map_err(ioe(path))?.len() / R::SIZE as u64)
}

/// Sorts the records of all `inputs` into one sorted stream, using at most about
/// `budget_bytes` of memory: runs of that size are sorted and spilled next to `spill_base`,
/// then merged. `each` sees every record in order.
/// Most runs merged at once (each is an open file).
pub const MAX_MERGE_FAN_IN: usize = 64;

/// Merges sorted runs into `each` in order, then deletes them.
fn merge_runs<R: Record>(
    runs: &[PathBuf],
    mut each: impl FnMut(R) -> Result<(), StageError>,
) -> Result<(), StageError> {
    let mut readers = runs
        .iter()
        .map(|p| RecordReader::<R>::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(rec) = r.next_record()? {
            heap.push(Reverse((rec, i)));
        }
    }
    while let Some(Reverse((rec, i))) = heap.pop() {
        each(rec)?;
        if let Some(next) = readers[i].next_record()? {
            heap.push(Reverse((next, i)));
        }
    }
    drop(readers);
    for p in runs {
        std::fs::remove_file(p).map_err(ioe(p))?;
    }
    Ok(())
}

pub fn sorted_merge<R: Record>(
    inputs: &[PathBuf],
    spill_base: &Path,
    budget_bytes: usize,
    mut each: impl FnMut(R) -> Result<(), StageError>,
) -> Result<(), StageError> {
    let cap = (budget_bytes / R::SIZE.max(1)).max(1024);
    // Reserved once: a growing Vec would double past the budget. Pages never written are not
    // resident, so a small input does not pay for the whole reservation.
    let mut chunk: Vec<R> = Vec::with_capacity(cap);
    let mut runs: Vec<PathBuf> = Vec::new();
    let spill = |chunk: &mut Vec<R>, runs: &mut Vec<PathBuf>| -> Result<(), StageError> {
        chunk.sort_unstable();
        let p = spill_base.with_extension(format!("run{}", runs.len()));
        let mut w = RecordWriter::<R>::create(&p)?;
        for r in chunk.iter() {
            w.push(r)?;
        }
        w.commit()?;
        runs.push(p);
        chunk.clear();
        Ok(())
    };
    for p in inputs {
        let mut r = RecordReader::<R>::open(p)?;
        while let Some(rec) = r.next_record()? {
            chunk.push(rec);
            if chunk.len() >= cap {
                spill(&mut chunk, &mut runs)?;
            }
        }
    }
    if runs.is_empty() {
        chunk.sort_unstable();
        for r in chunk {
            each(r)?;
        }
        return Ok(());
    }
    if !chunk.is_empty() {
        spill(&mut chunk, &mut runs)?;
    }
    drop(chunk);
    // Merge in passes of at most MAX_MERGE_FAN_IN runs, so open files stay bounded however
    // far the data outgrows the budget.
    let mut pass = 0;
    while runs.len() > MAX_MERGE_FAN_IN {
        let mut next = Vec::with_capacity(runs.len().div_ceil(MAX_MERGE_FAN_IN));
        for (g, group) in runs.chunks(MAX_MERGE_FAN_IN).enumerate() {
            let p = spill_base.with_extension(format!("pass{pass}-run{g}"));
            let mut w = RecordWriter::<R>::create(&p)?;
            merge_runs::<R>(group, |r| w.push(&r))?;
            w.commit()?;
            next.push(p);
        }
        runs = next;
        pass += 1;
    }
    merge_runs(&runs, each)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn external_sort_equals_in_memory_sort(
            a in proptest::collection::vec((0u64..50, any::<u64>()), 0..3000),
            b in proptest::collection::vec((0u64..50, any::<u64>()), 0..3000),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut paths = vec![];
            for (k, v) in [&a, &b].iter().enumerate() {
                let p = dir.path().join(format!("in{k}.bin"));
                let mut w = RecordWriter::<(u64, u64)>::create(&p).unwrap();
                for r in v.iter() { w.push(r).unwrap(); }
                w.commit().unwrap();
                paths.push(p);
            }
            let mut got = vec![];
            // 1024-record runs: several spills for the larger inputs.
            sorted_merge::<(u64, u64)>(&paths, &dir.path().join("s"), 0, |r| { got.push(r); Ok(()) }).unwrap();
            let mut want: Vec<_> = a.iter().chain(b.iter()).copied().collect();
            want.sort();
            prop_assert_eq!(got, want);
            let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
            prop_assert_eq!(leftovers, 2);
        }
    }

    /// More runs than MAX_MERGE_FAN_IN (about 140 here): merged in two passes, still sorted,
    /// nothing lost, no run left behind; at most MAX_MERGE_FAN_IN runs are open at once.
    #[test]
    fn many_runs_merge_in_passes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.bin");
        let mut w = RecordWriter::<(u64, u64)>::create(&p).unwrap();
        let n = 1024 * (2 * MAX_MERGE_FAN_IN as u64 + 10);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut want = vec![];
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.push(&(x % 5000, i)).unwrap();
            want.push((x % 5000, i));
        }
        w.commit().unwrap();
        want.sort();
        let mut got = Vec::with_capacity(want.len());
        let fd_dir = std::path::Path::new("/proc/self/fd");
        let mut max_open = 0;
        sorted_merge::<(u64, u64)>(&[p], &dir.path().join("s"), 0, |r| {
            if got.len() % 4096 == 0 && fd_dir.exists() {
                let runs = std::fs::read_dir(fd_dir)
                    .unwrap()
                    .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|t| t.starts_with(dir.path()))
                    .count();
                max_open = max_open.max(runs);
            }
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want);
        assert!(max_open <= MAX_MERGE_FAN_IN, "{max_open} runs open at once");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_cut_short_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, [0u8; 20]).unwrap();
        let e = RecordReader::<(u64, u64)>::open(&p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("x.bin") && e.contains("cut short"), "{e}");
    }
}

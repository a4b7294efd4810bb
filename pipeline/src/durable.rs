//! Durable files, the one way every sluice crate puts a finished file in place: written under
//! a temporary name, fsync'd, renamed, and the directory fsync'd. After a power loss a marker,
//! manifest, shard or checkpoint is either absent or whole, never a zero-length file that
//! looks complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How much a [`WritebackFile`] writes before it asks the kernel to start writing it out.
pub const WRITEBACK_BYTES: u64 = 8 << 20;

/// A file written front to back that asks the kernel, after every [`WRITEBACK_BYTES`], to
/// start writing what was just written to disk (Linux `sync_file_range(WRITE)`: it starts
/// the I/O and does not wait for it). The fsync of [`commit`] then waits for the last few
/// MiB instead of the whole file, and the disk works while the run computes. It is a hint:
/// what makes a file durable is still that fsync, which also reports any I/O error (errors
/// of the hint itself, e.g. on a filesystem without it, are ignored). The large files of a
/// run (outputs, intermediates, dedup side files, token shards) go through one: on the
/// scale bench's full chain it cut the time spent waiting in fsync from 1.6 to 0.7 s per
/// run at two workers (docs/BENCHMARKS.md).
pub struct WritebackFile {
    file: File,
    written: u64,
    started: u64,
}

impl WritebackFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(WritebackFile {
            file: File::create(path)?,
            written: 0,
            started: 0,
        })
    }

    /// Waits until the file's data and metadata are on disk.
    pub fn sync_all(&self) -> std::io::Result<()> {
        self.file.sync_all()
    }

    #[cfg(test)]
    fn file_ref(&self) -> &File {
        &self.file
    }

    fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a plain syscall on a file descriptor this struct owns; it reads no memory.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.started as _,
                    (self.written - self.started) as _,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.started = self.written;
    }
}

impl Write for WritebackFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_BYTES {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// `path` with `.tmp` appended: where a file is written before it is renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes `bytes` to `path` durably (parent directories created).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    rename_durable(&tmp, path)
}

/// Puts the finished file or directory `from` in place at `to`: its data is fsync'd (a
/// directory's files one by one), then it is renamed and the parent directory fsync'd.
pub fn commit(from: &Path, to: &Path) -> std::io::Result<()> {
    sync_tree(from)?;
    rename_durable(from, to)
}

/// Renames `from` to `to` and fsyncs `to`'s directory (the data must be synced already).
pub fn rename_durable(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// fsyncs a directory, making the names in it (creations, renames) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

fn sync_tree(p: &Path) -> std::io::Result<()> {
    if p.is_dir() {
        for e in std::fs::read_dir(p)? {
            sync_tree(&e?.path())?;
        }
    }
    File::open(p)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/marker.json");
        write_atomic(&p, b"{}").unwrap();
        write_atomic(&p, b"{\"x\":1}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"x\":1}");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let dir = d.path().join("ckpt.tmp");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("state.json"), b"1").unwrap();
        commit(&dir, &d.path().join("ckpt")).unwrap();
        assert!(d.path().join("ckpt/state.json").exists());
    }

    /// The writeback check, where `cachestat(2)` is syscall 451 (elsewhere that number is
    /// another call).
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    mod writeback {
        use super::*;

        /// Pages of `f` in the page cache that are dirty or under writeback, by `cachestat(2)`
        /// (Linux 6.5); `None` where the kernel has no such call.
        fn unwritten_pages(f: &File) -> Option<(u64, u64)> {
            use std::os::fd::AsRawFd;
            const SYS_CACHESTAT: libc::c_long = 451;
            // The range: offset 0, length 0 (the whole file).
            let range = [0u64, 0u64];
            // Pages cached, dirty, under writeback, evicted, recently evicted.
            let mut stat = [0u64; 5];
            // SAFETY: both pointers are to live arrays of the layout the syscall reads and writes.
            let r = unsafe {
                libc::syscall(
                    SYS_CACHESTAT,
                    f.as_raw_fd(),
                    range.as_ptr(),
                    stat.as_mut_ptr(),
                    0,
                )
            };
            (r == 0).then_some((stat[1], stat[2]))
        }

        #[test]
        fn a_large_file_goes_to_disk_while_it_is_written() {
            let d = tempfile::tempdir().unwrap();
            let chunk = vec![b'x'; 1 << 20];
            let (a, b) = (d.path().join("a"), d.path().join("b"));
            let mut w = WritebackFile::create(&a).unwrap();
            let mut plain = File::create(&b).unwrap();
            for _ in 0..32 {
                w.write_all(&chunk).unwrap();
                plain.write_all(&chunk).unwrap();
            }
            // SAFETY: sysconf reads no memory of ours.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
            let Some((plain_dirty, _)) = unwritten_pages(&plain) else {
                eprintln!("no cachestat(2) on this kernel: not checked");
                return;
            };
            if plain_dirty < 24 * (1 << 20) / page {
                eprintln!("this filesystem keeps no dirty pages ({plain_dirty}): not checked");
                return;
            }
            // All but the last WRITEBACK_BYTES were handed to the disk as they were written;
            // the plain file's pages stay dirty until the kernel's flusher (30 s).
            let tail = WRITEBACK_BYTES / page;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let (dirty, writeback) = unwritten_pages(w.file_ref()).unwrap();
                if dirty + writeback <= tail {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{dirty} dirty and {writeback} writeback pages of a 32 MiB file after 10 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            w.sync_all().unwrap();
            assert_eq!(std::fs::read(&a).unwrap().len(), 32 << 20);
        }
    }
}

//! Durable files, the one way every sluice crate puts a finished file in place: written under
//! a temporary name, fsync'd, renamed, and the directory fsync'd. After a power loss a marker,
//! manifest, shard or checkpoint is either absent or whole, never a zero-length file that
//! looks complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

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
}

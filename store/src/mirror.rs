//! [`Mirror`]: a local directory kept in step with an object prefix. A run whose output is
//! in object storage writes into a local scratch directory exactly as a local run would; the
//! mirror uploads each finished file (never a `*.tmp`), and a file the caller calls a marker
//! only after the files written before it, so a marker in the bucket always means that what
//! it marks is there too. A rerun on a machine without the scratch directory first downloads
//! the prefix ([`Mirror::hydrate`]); at the end, objects whose files are gone are removed
//! ([`Mirror::prune`]), leaving the prefix equal to the directory, byte for byte.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::StoreError;
use crate::location::ObjectUrl;

/// Names never mirrored: temporary files, and those `skip` names (a local lock file).
fn is_temporary(rel: &str) -> bool {
    rel.ends_with(".tmp") || rel.contains(".tmp/")
}

pub struct Mirror {
    local: PathBuf,
    remote: ObjectUrl,
    /// Whether a relative path is a marker (uploaded after everything else of its pass).
    is_marker: fn(&str) -> bool,
    /// Relative paths never uploaded nor removed.
    skip: Vec<String>,
    /// What was uploaded: relative path → (size, modification time) at upload.
    sent: Mutex<HashMap<String, (u64, SystemTime)>>,
}

/// Every file under `dir`, as `/`-separated paths relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            walk(root, &p, out)?;
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

impl Mirror {
    pub fn new(
        local: PathBuf,
        remote: ObjectUrl,
        is_marker: fn(&str) -> bool,
        skip: &[&str],
    ) -> Self {
        Mirror {
            local,
            remote,
            is_marker,
            skip: skip.iter().map(|s| s.to_string()).collect(),
            sent: Mutex::new(HashMap::new()),
        }
    }

    fn files(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        walk(&self.local, &self.local, &mut out).map_err(|e| StoreError::local(&self.local, e))?;
        out.retain(|r| !is_temporary(r) && !self.skip.contains(r));
        out.sort();
        Ok(out)
    }

    /// Uploads every file that is new or changed since its last upload: first the data
    /// files, then the markers that existed before the data files were listed. Returns how
    /// many files went up.
    pub fn pass(&self) -> Result<usize, StoreError> {
        let markers: Vec<String> = self
            .files()?
            .into_iter()
            .filter(|r| (self.is_marker)(r))
            .collect();
        let data: Vec<String> = self
            .files()?
            .into_iter()
            .filter(|r| !(self.is_marker)(r))
            .collect();
        let mut n = 0;
        for rel in data.iter().chain(&markers) {
            n += self.send(rel)? as usize;
        }
        Ok(n)
    }

    /// Uploads `rel` if it changed since it was last sent.
    fn send(&self, rel: &str) -> Result<bool, StoreError> {
        let path = self.local.join(rel);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            // Removed since the listing (an intermediate the run is done with).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::local(&path, e)),
        };
        let stamp = (
            meta.len(),
            meta.modified().map_err(|e| StoreError::local(&path, e))?,
        );
        if self.sent.lock().expect("not poisoned").get(rel) == Some(&stamp) {
            return Ok(false);
        }
        match self.remote.join(rel).put_file(&path) {
            Err(StoreError::Local { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(false)
            }
            r => r?,
        }
        self.sent
            .lock()
            .expect("not poisoned")
            .insert(rel.to_string(), stamp);
        Ok(true)
    }

    /// Downloads every object of the prefix that the directory lacks (a rerun on another
    /// machine, or after the scratch directory was lost); remembers them as sent. With
    /// `remote_wins` (a read-only view of a run), files whose size differs from their object's
    /// are downloaded again and files with no object are removed. Returns how many came down.
    pub fn hydrate(&self, remote_wins: bool) -> Result<usize, StoreError> {
        let listed = self.remote.list()?;
        if remote_wins {
            let names: std::collections::HashSet<&str> = listed
                .iter()
                .filter_map(|o| o.url.relative_to(&self.remote))
                .collect();
            for rel in self.files()? {
                if !names.contains(rel.as_str()) {
                    let p = self.local.join(&rel);
                    std::fs::remove_file(&p).map_err(|e| StoreError::local(&p, e))?;
                }
            }
        }
        let mut n = 0;
        for o in listed {
            let Some(rel) = o.url.relative_to(&self.remote).map(str::to_string) else {
                continue;
            };
            if is_temporary(&rel) || self.skip.contains(&rel) {
                continue;
            }
            let path = self.local.join(&rel);
            let differs = remote_wins && std::fs::metadata(&path).is_ok_and(|m| m.len() != o.size);
            if !path.exists() || differs {
                o.download(&path)?;
                n += 1;
            }
            let meta = std::fs::metadata(&path).map_err(|e| StoreError::local(&path, e))?;
            if meta.len() == o.size {
                let stamp = (
                    meta.len(),
                    meta.modified().map_err(|e| StoreError::local(&path, e))?,
                );
                self.sent.lock().expect("not poisoned").insert(rel, stamp);
            }
        }
        Ok(n)
    }

    /// Removes the objects of the prefix whose files are gone from the directory. Returns
    /// how many.
    pub fn prune(&self) -> Result<usize, StoreError> {
        let keep: std::collections::HashSet<String> = self.files()?.into_iter().collect();
        let mut n = 0;
        for o in self.remote.list()? {
            let Some(rel) = o.url.relative_to(&self.remote) else {
                continue;
            };
            if !keep.contains(rel) && !self.skip.iter().any(|s| s == rel) {
                o.url.delete()?;
                self.sent.lock().expect("not poisoned").remove(rel);
                n += 1;
            }
        }
        Ok(n)
    }
}

//! Where a dedup index lives, a local directory or an `s3://` prefix, and the few operations
//! the index needs of it: the manifest (`index.json`, replaced atomically: a rename, or a
//! conditional put on the tag read), segment files (`segments/NAME`, written whole; read
//! from a bucket through a checksum-named copy in the local cache) and the lock
//! (`.sluice.lock`: an flock, or the lease object of [`store::RemoteLock`]).

use std::path::{Path, PathBuf};

use pipeline::lock::RunLock;
use pipeline::PipelineError;
use store::{Location, ObjectUrl, RemoteLock};

use super::{IndexError, Manifest, SegmentEntry};

const MANIFEST: &str = "index.json";
const LOCK: &str = ".sluice.lock";

/// A dedup index's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStore {
    Local(PathBuf),
    Remote(ObjectUrl),
}

/// A held index lock (released when dropped, or by the kernel / the lease's expiry when the
/// holder dies).
#[allow(dead_code)]
pub enum IndexLock {
    Local(RunLock),
    Remote(RemoteLock),
}

/// The manifest as read, with what a conditional replace needs.
pub struct ReadManifest {
    pub manifest: Manifest,
    etag: Option<String>,
}

impl IndexStore {
    /// `s` as the user wrote it; a relative path is taken against `base`.
    pub fn parse(s: &str, base: &Path) -> Result<IndexStore, IndexError> {
        Ok(match Location::parse(s)? {
            Location::Local(p) if p.is_absolute() => IndexStore::Local(p),
            Location::Local(p) => IndexStore::Local(base.join(p)),
            Location::Object(u) => IndexStore::Remote(u),
        })
    }

    fn object(&self, rel: &str) -> Option<ObjectUrl> {
        match self {
            IndexStore::Remote(u) => Some(u.join(rel)),
            IndexStore::Local(_) => None,
        }
    }

    fn local(&self, rel: &str) -> Option<PathBuf> {
        match self {
            IndexStore::Local(d) => Some(d.join(rel)),
            IndexStore::Remote(_) => None,
        }
    }

    /// The manifest, or `None` for an index nothing was added to yet.
    pub fn read_manifest(&self) -> Result<Option<ReadManifest>, IndexError> {
        let (bytes, etag) = match (self.local(MANIFEST), self.object(MANIFEST)) {
            (Some(p), _) => match std::fs::read(&p) {
                Ok(b) => (b, None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(IndexError::io(&p, e)),
            },
            (_, Some(u)) => match u.head()? {
                None => return Ok(None),
                Some(info) => (u.get()?.to_vec(), info.etag),
            },
            _ => unreachable!("an index is local or remote"),
        };
        let manifest = serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
            index: self.to_string(),
            message: format!("{MANIFEST} cannot be read: {e}"),
        })?;
        Ok(Some(ReadManifest { manifest, etag }))
    }

    /// Replaces the manifest read as `prev` (`None`: there was none) with `m`; refused if
    /// it changed in between (only a bucket can tell; a local index relies on its lock).
    pub fn write_manifest(
        &self,
        m: &Manifest,
        prev: Option<&ReadManifest>,
    ) -> Result<(), IndexError> {
        let bytes = serde_json::to_vec_pretty(m).expect("manifest serializes");
        if let Some(p) = self.local(MANIFEST) {
            return pipeline::durable::write_atomic(&p, &bytes).map_err(|e| IndexError::io(&p, e));
        }
        let u = self.object(MANIFEST).expect("remote");
        let done = match prev.and_then(|r| r.etag.as_deref()) {
            Some(tag) => u.replace(bytes.into(), tag)?,
            None => u.create(bytes.into())?,
        };
        match done {
            true => Ok(()),
            false => Err(IndexError::Changed {
                index: self.to_string(),
                what: format!("{MANIFEST} was replaced by another process"),
            }),
        }
    }

    /// Puts the finished segment file `local` in place as segment `name`.
    pub fn put_segment(&self, local: &Path, name: &str) -> Result<(), IndexError> {
        let rel = format!("segments/{name}");
        if let Some(p) = self.local(&rel) {
            let tmp = pipeline::writer::tmp_path(&p);
            let d = p.parent().expect("under segments/");
            std::fs::create_dir_all(d).map_err(|e| IndexError::io(d, e))?;
            std::fs::copy(local, &tmp).map_err(|e| IndexError::io(&tmp, e))?;
            return pipeline::durable::commit(&tmp, &p).map_err(|e| IndexError::io(&p, e));
        }
        Ok(self.object(&rel).expect("remote").put_file(local)?)
    }

    /// A local file holding segment `e`: the file itself, or a cached copy of the object
    /// (downloaded once and checked against the manifest's checksum).
    pub fn segment_file(&self, e: &SegmentEntry, key_bytes: usize) -> Result<PathBuf, IndexError> {
        let rel = format!("segments/{}", e.name);
        let missing = || IndexError::MissingSegment {
            index: self.to_string(),
            name: e.name.clone(),
        };
        if let Some(p) = self.local(&rel) {
            return match p.exists() {
                true => Ok(p),
                false => Err(missing()),
            };
        }
        let cached = store::cache_dir()
            .join("dedup-index")
            .join(format!("{}-{}", e.checksum, e.name));
        if cached.exists() {
            return Ok(cached);
        }
        let u = self.object(&rel).expect("remote");
        let info = u.head()?.ok_or_else(missing)?;
        let part = cached.with_extension(format!("{}.part", std::process::id()));
        info.download(&part)?;
        let seg =
            super::segment::Segment::open(&part, key_bytes).and_then(|s| s.verify().map(|_| s));
        match seg {
            Ok(s) if s.checksum() == e.checksum => {}
            _ => {
                let _ = std::fs::remove_file(&part);
                return Err(IndexError::Corrupt {
                    index: self.to_string(),
                    message: format!("segment {} does not match its checksum", e.name),
                });
            }
        }
        std::fs::rename(&part, &cached).map_err(|err| IndexError::io(&cached, err))?;
        Ok(cached)
    }

    /// Removes segment `name` (compaction's leftovers).
    pub fn delete_segment(&self, name: &str) -> Result<(), IndexError> {
        let rel = format!("segments/{name}");
        if let Some(p) = self.local(&rel) {
            return match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IndexError::io(&p, e)),
                _ => Ok(()),
            };
        }
        Ok(self.object(&rel).expect("remote").delete()?)
    }

    /// Takes the index's lock, or says who holds it.
    pub fn lock(&self) -> Result<IndexLock, IndexError> {
        let held = |holder: String| IndexError::Locked {
            index: self.to_string(),
            holder,
        };
        match self {
            IndexStore::Local(d) => match RunLock::acquire(d) {
                Ok(l) => Ok(IndexLock::Local(l)),
                Err(PipelineError::Locked { holder, .. }) => Err(held(holder)),
                Err(e) => Err(IndexError::Corrupt {
                    index: self.to_string(),
                    message: e.to_string(),
                }),
            },
            IndexStore::Remote(u) => match RemoteLock::acquire(u.join(LOCK)) {
                Ok(l) => Ok(IndexLock::Remote(l)),
                Err(store::LockRefused::Held(h)) => Err(held(format!(" ({h})"))),
                Err(store::LockRefused::Store(e)) => Err(e.into()),
            },
        }
    }
}

impl std::fmt::Display for IndexStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexStore::Local(p) => write!(f, "{}", p.display()),
            IndexStore::Remote(u) => write!(f, "{u}"),
        }
    }
}

//! Shards read from object storage: each is fetched on first use into a local cache
//! directory, checked against its manifest entry (size and SHA-256), memory-mapped, and
//! evicted whole, least recently used first, so the files in the cache never exceed its
//! limit (`cache_mb`, like mosaic streaming's `cache_limit`).
//!
//! Files are named by their SHA-256, so a later run over the same shards reuses them (checked
//! again before use). Each process takes its own slot directory under
//! `$SLUICE_CACHE/shards/BUCKET/PREFIX/slot-K`, held by a file lock, so two processes (ranks,
//! DataLoader workers) never evict a file under each other; the limit is per process.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::Digest;
use store::{ObjectInfo, ObjectUrl};

use crate::data::check_rows;
use crate::error::FeedError;
use crate::manifest::ShardEntry;
use crate::shard::Shard;

/// What a cache did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Shards downloaded, and their bytes.
    pub fetched: u64,
    pub fetched_bytes: u64,
    /// Reads served by a shard already in the cache (mapped or on disk from an earlier run).
    pub hits: u64,
    /// Shards deleted to make room.
    pub evicted: u64,
    /// The most bytes the cache's files took at once.
    pub peak_bytes: u64,
    /// The limit (`cache_mb`), if any.
    pub limit_bytes: Option<u64>,
}

/// A file in the cache: its size, when it was last used, and its mapping once opened.
struct Cached {
    size: u64,
    last: u64,
    shard: Option<Arc<Shard>>,
}

/// One process's slot: its directory, lock, files and counters.
struct State {
    /// The process that took the slot: a forked child takes a slot of its own.
    pid: u32,
    dir: PathBuf,
    /// Holds the slot's lock for the life of the cache.
    _slot: File,
    tick: u64,
    files: HashMap<String, Cached>,
    total: u64,
    stats: CacheStats,
}

impl State {
    /// Takes a free slot under `root` and registers what an earlier run left in it.
    fn open(root: &Path, limit: Option<u64>) -> Result<State, FeedError> {
        let (dir, slot) = take_slot(root)?;
        let mut st = State {
            pid: std::process::id(),
            dir,
            _slot: slot,
            tick: 0,
            files: HashMap::new(),
            total: 0,
            stats: CacheStats {
                limit_bytes: limit,
                ..Default::default()
            },
        };
        scan(&mut st)?;
        Ok(st)
    }
}

/// The local cache of the shards under one prefix of a bucket.
pub struct ShardCache {
    base: ObjectUrl,
    root: PathBuf,
    limit: u64,
    row_len: usize,
    state: Mutex<State>,
}

impl ShardCache {
    /// The cache of the shards under `base` (the manifest's prefix), within `cache_mb`.
    pub fn open(base: ObjectUrl, row_len: usize, cache_mb: Option<u64>) -> Result<Self, FeedError> {
        let root = store::cache_dir()
            .join("shards")
            .join(&base.bucket)
            .join(&base.key);
        let limit = cache_mb.map(|mb| mb.saturating_mul(1 << 20));
        let state = State::open(&root, limit)?;
        let cache = ShardCache {
            base,
            root,
            limit: limit.unwrap_or(u64::MAX),
            row_len,
            state: Mutex::new(state),
        };
        // A smaller limit than an earlier run's: trim what it left.
        cache.make_room(&mut cache.state.lock().expect("cache lock"), 0);
        Ok(cache)
    }

    pub fn stats(&self) -> CacheStats {
        self.state.lock().expect("cache lock").stats
    }

    /// The shard of manifest entry `e`, from the cache or fetched into it.
    pub fn get(&self, e: &ShardEntry) -> Result<Arc<Shard>, FeedError> {
        let (sha, size) = (e.sha256.as_deref().unwrap_or(""), e.bytes.unwrap_or(0));
        let mut st = self.state.lock().expect("cache lock");
        if st.pid != std::process::id() {
            // A forked child: the parent's slot and files stay the parent's.
            *st = State::open(&self.root, st.stats.limit_bytes)?;
            self.make_room(&mut st, 0);
        }
        st.tick += 1;
        let tick = st.tick;
        let path = st.dir.join(format!("{sha}.arrow"));
        if let Some(c) = st.files.get_mut(sha) {
            c.last = tick;
            if let Some(s) = &c.shard {
                let s = s.clone();
                st.stats.hits += 1;
                return Ok(s);
            }
            // On disk from an earlier run: use it if it is still whole.
            if hash_file(&path)? == (size, sha.to_string()) {
                let shard = Arc::new(self.decode(&path, e)?);
                st.files.get_mut(sha).expect("present").shard = Some(shard.clone());
                st.stats.hits += 1;
                return Ok(shard);
            }
            self.evict(&mut st, sha);
        }
        let url = self.base.join(&e.path);
        if size > self.limit {
            return Err(FeedError::data(
                url.to_string(),
                format!(
                    "the shard is {} MB, more than the whole cache (cache_mb = {}); raise cache_mb",
                    size.div_ceil(1 << 20),
                    self.limit >> 20
                ),
            ));
        }
        self.make_room(&mut st, size);
        let shard = self.fetch(&url, &path, e);
        if shard.is_err() {
            let _ = std::fs::remove_file(&path);
            return shard;
        }
        st.total += size;
        st.stats.peak_bytes = st.stats.peak_bytes.max(st.total);
        st.stats.fetched += 1;
        st.stats.fetched_bytes += size;
        let shard = shard?;
        st.files.insert(
            sha.to_string(),
            Cached {
                size,
                last: tick,
                shard: Some(shard.clone()),
            },
        );
        Ok(shard)
    }

    /// Downloads `url` to `path`, checks it against `e` and maps it.
    fn fetch(&self, url: &ObjectUrl, path: &Path, e: &ShardEntry) -> Result<Arc<Shard>, FeedError> {
        let info = ObjectInfo {
            url: url.clone(),
            size: e.bytes.unwrap_or(0),
            etag: None,
            modified: 0,
        };
        info.download(path)?;
        let (size, sha) = hash_file(path)?;
        let want = (e.bytes.unwrap_or(0), e.sha256.clone().unwrap_or_default());
        if (size, sha.clone()) != want {
            return Err(FeedError::data(
                url.to_string(),
                format!(
                    "{size} bytes with SHA-256 {sha}, the manifest says {} bytes with {}: the \
                     shard changed after the manifest was written",
                    want.0, want.1
                ),
            ));
        }
        Ok(Arc::new(self.decode(path, e)?))
    }

    fn decode(&self, path: &Path, e: &ShardEntry) -> Result<Shard, FeedError> {
        let shard = Shard::open(path, self.row_len)?;
        check_rows(path, &shard, e)?;
        Ok(shard)
    }

    /// Evicts least recently used files until `size` more bytes fit.
    fn make_room(&self, st: &mut State, size: u64) {
        while st.total.saturating_add(size) > self.limit {
            let victim = (st.files.iter())
                .min_by_key(|(k, c)| (c.last, k.as_str()))
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            self.evict(st, &victim);
            st.stats.evicted += 1;
        }
    }

    /// Forgets `sha` and deletes its file (a row still holding its mapping keeps reading it).
    fn evict(&self, st: &mut State, sha: &str) {
        if let Some(c) = st.files.remove(sha) {
            st.total -= c.size;
            let _ = std::fs::remove_file(st.dir.join(format!("{sha}.arrow")));
        }
    }
}

/// The first free `slot-K` directory under `root`, locked for this process.
fn take_slot(root: &Path) -> Result<(PathBuf, File), FeedError> {
    std::fs::create_dir_all(root).map_err(|e| FeedError::io(root, e))?;
    for k in 0.. {
        let lock = root.join(format!("slot-{k}.lock"));
        let f = File::create(&lock).map_err(|e| FeedError::io(&lock, e))?;
        match f.try_lock() {
            Ok(()) => {
                let dir = root.join(format!("slot-{k}"));
                std::fs::create_dir_all(&dir).map_err(|e| FeedError::io(&dir, e))?;
                return Ok((dir, f));
            }
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(FeedError::io(&lock, e)),
        }
    }
    unreachable!("the slots are unbounded")
}

/// Registers the shards an earlier run left in the slot; removes partial downloads.
fn scan(st: &mut State) -> Result<(), FeedError> {
    let dir = &st.dir;
    let entries = std::fs::read_dir(dir).map_err(|e| FeedError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FeedError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.strip_suffix(".arrow") {
            Some(sha) if sha.len() == 64 => {
                let size = entry.metadata().map_err(|e| FeedError::io(&path, e))?.len();
                st.total += size;
                let c = Cached {
                    size,
                    last: 0,
                    shard: None,
                };
                st.files.insert(sha.to_string(), c);
            }
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    st.stats.peak_bytes = st.total;
    Ok(())
}

/// (size, SHA-256 as lower-case hex) of a local file.
fn hash_file(path: &Path) -> Result<(u64, String), FeedError> {
    let mut f = File::open(path).map_err(|e| FeedError::io(path, e))?;
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| FeedError::io(path, e))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, crate::manifest::hex(&sha.finalize())))
}

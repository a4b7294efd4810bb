//! The shard set of one manifest, local or in a bucket: rows are addressed as
//! (domain, row) and split into train and validation rows deterministically. Local shards
//! are mapped at open; shards in object storage are fetched on first use through a
//! [`ShardCache`] within its size limit. Either way a row reads the same bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use store::{Location, ObjectUrl};

use crate::cache::{CacheStats, ShardCache};
use crate::error::FeedError;
use crate::manifest::{Manifest, ShardEntry};
use crate::shard::Shard;

/// All rows of one domain.
pub struct DomainRows {
    pub name: String,
    /// Indices of this domain's shards in the set's shard list.
    shards: Vec<usize>,
    /// `starts[i]` = first row of shard i (from the manifest); last = total rows.
    starts: Vec<usize>,
    /// Rows used for training / validation (indices into this domain's rows).
    pub train: Vec<u32>,
    pub val: Vec<u32>,
    pub tokens: u64,
}

impl DomainRows {
    pub fn rows(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    /// (shard index in the set, row within that shard) of row `r`.
    fn locate(&self, r: usize) -> (usize, usize) {
        let k = self.starts.partition_point(|&s| s <= r) - 1;
        (self.shards[k], r - self.starts[k])
    }
}

/// A row: `row_len` token ids, where documents start, and how many tokens are real. It holds
/// its shard, so an eviction from the cache never pulls the bytes from under it.
pub struct Row {
    shard: Arc<Shard>,
    local: usize,
}

impl Row {
    pub fn ids(&self) -> &[u32] {
        self.shard.ids(self.local)
    }
    pub fn doc_starts(&self) -> Vec<u32> {
        self.shard.doc_starts(self.local)
    }
    pub fn valid_len(&self) -> usize {
        self.shard.valid_len(self.local)
    }
}

/// Where the shards are read from.
enum Source {
    /// Mapped at open, in the order of the set's shard list.
    Local(Vec<Arc<Shard>>),
    Remote(Box<ShardCache>),
}

/// The shard set of one manifest.
pub struct ShardSet {
    pub manifest: Manifest,
    /// The manifest's path or URL, as given.
    pub location: String,
    pub row_len: usize,
    pub domains: Vec<DomainRows>,
    entries: Vec<ShardEntry>,
    source: Source,
}

/// (train, val) rows of a domain with `n` rows: every k-th row held out for `val_fraction`
/// (at least one when there are two or more); all rows are validation rows for `None`.
fn split_rows(n: usize, val_fraction: Option<f64>) -> (Vec<u32>, Vec<u32>) {
    let Some(val_fraction) = val_fraction else {
        return (vec![], (0..n as u32).collect());
    };
    let stride = if val_fraction > 0.0 {
        (1.0 / val_fraction).round().max(2.0) as usize
    } else {
        usize::MAX
    };
    let (mut train, mut val) = (vec![], vec![]);
    for r in 0..n as u32 {
        if n >= 2 && (r as usize) % stride == stride - 1 {
            val.push(r);
        } else {
            train.push(r);
        }
    }
    if n >= 2 && val.is_empty() && val_fraction > 0.0 {
        val.push(train.pop().unwrap());
    }
    (train, val)
}

impl ShardSet {
    /// Opens `manifest.json` (a path or `s3://…/manifest.json`). `val_fraction` of each
    /// domain's rows (every k-th row, at least one when the domain has two or more) is held
    /// out. Shards in a bucket are cached locally within `cache_mb` (no limit for `None`).
    pub fn open(
        manifest: &str,
        val_fraction: f64,
        cache_mb: Option<u64>,
    ) -> Result<Self, FeedError> {
        Self::open_split(manifest, Some(val_fraction), cache_mb)
    }

    /// Opens a manifest packed from a held-out set: every row is a validation row.
    pub fn open_eval(manifest: &str, cache_mb: Option<u64>) -> Result<Self, FeedError> {
        Self::open_split(manifest, None, cache_mb)
    }

    fn open_split(
        manifest: &str,
        val_fraction: Option<f64>,
        cache_mb: Option<u64>,
    ) -> Result<Self, FeedError> {
        let location = Location::parse(manifest)?;
        let m = Manifest::open(manifest)?;
        let row_len = m.row_len as usize;
        let bad = |message: String| FeedError::data(manifest, message);
        let mut entries = vec![];
        let mut domains = vec![];
        for (name, d) in &m.domains {
            let mut starts = vec![0usize];
            let mut shards = vec![];
            for s in &d.shards {
                starts.push(starts.last().unwrap() + s.rows as usize);
                shards.push(entries.len());
                entries.push(s.clone());
            }
            let n = *starts.last().unwrap();
            if n as u64 != d.rows {
                return Err(bad(format!(
                    "domain {name}: its shards list {n} rows, the manifest says {}",
                    d.rows
                )));
            }
            let (train, val) = split_rows(n, val_fraction);
            domains.push(DomainRows {
                name: name.clone(),
                shards,
                starts,
                train,
                val,
                tokens: d.tokens,
            });
        }
        let source = match &location {
            Location::Local(p) => Source::Local(map_all(p, &entries, row_len)?),
            Location::Object(url) => Source::Remote(Box::new(remote(
                manifest, url, &entries, row_len, cache_mb,
            )?)),
        };
        // A training set needs domains with training rows; an eval set, with any rows.
        let eval = val_fraction.is_none();
        domains.retain(|d| !(if eval { &d.val } else { &d.train }).is_empty());
        if domains.is_empty() {
            return Err(bad(if eval {
                "no domain has rows".into()
            } else {
                "no domain has training rows".into()
            }));
        }
        Ok(ShardSet {
            manifest: m,
            location: manifest.to_string(),
            row_len,
            domains,
            entries,
            source,
        })
    }

    /// Row `r` of domain `d` (fetching its shard first when it lives in a bucket and is not
    /// in the cache).
    pub fn row(&self, d: usize, r: usize) -> Result<Row, FeedError> {
        let (k, local) = self.domains[d].locate(r);
        let shard = match &self.source {
            Source::Local(shards) => shards[k].clone(),
            Source::Remote(cache) => cache.get(&self.entries[k])?,
        };
        Ok(Row { shard, local })
    }

    /// What the shard cache did so far (`None` for local shards).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        match &self.source {
            Source::Local(_) => None,
            Source::Remote(cache) => Some(cache.stats()),
        }
    }

    pub fn seq_len(&self) -> usize {
        self.row_len - 1
    }

    pub fn vocab_size(&self) -> usize {
        self.manifest.tokenizer.vocab_size as usize
    }
}

/// Maps every shard of a local manifest, checking each holds the rows the manifest lists.
fn map_all(
    manifest: &Path,
    entries: &[ShardEntry],
    row_len: usize,
) -> Result<Vec<Arc<Shard>>, FeedError> {
    let dir = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    entries
        .iter()
        .map(|e| {
            let path: PathBuf = dir.join(&e.path);
            let shard = Shard::open(&path, row_len)?;
            check_rows(&path, &shard, e)?;
            Ok(Arc::new(shard))
        })
        .collect()
}

/// A shard's rows against its manifest entry.
pub(crate) fn check_rows(path: &Path, shard: &Shard, e: &ShardEntry) -> Result<(), FeedError> {
    if shard.rows() as u64 != e.rows {
        return Err(FeedError::data(
            path,
            format!("holds {} rows, the manifest says {}", shard.rows(), e.rows),
        ));
    }
    Ok(())
}

/// The cache of a manifest in a bucket; its shards must carry their size and SHA-256.
fn remote(
    manifest: &str,
    url: &ObjectUrl,
    entries: &[ShardEntry],
    row_len: usize,
    cache_mb: Option<u64>,
) -> Result<ShardCache, FeedError> {
    if let Some(e) = entries
        .iter()
        .find(|e| e.sha256.is_none() || e.bytes.is_none())
    {
        return Err(FeedError::data(
            manifest,
            format!(
                "shard {} has no size and SHA-256 in the manifest (written by an older sluice); \
                 run `sluice tokenize` again to read it from object storage",
                e.path
            ),
        ));
    }
    let key = url.key.rsplit_once('/').map_or("", |(dir, _)| dir);
    let base = ObjectUrl {
        bucket: url.bucket.clone(),
        key: key.to_string(),
    };
    ShardCache::open(base, row_len, cache_mb)
}

//! Shards read from a real S3-compatible server (moto, on loopback) through the local cache:
//! the same rows as from local disk, the cache within `cache_mb`, changed shards refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use feed::manifest::{DomainShards, Manifest, TokenizerInfo};
use feed::ShardSet;
use store::testing::shared_server;
use store::ObjectUrl;
use tokenize::shards::DomainShardWriter;
use tokenize::PackedRow;

/// Tokens per row: 256 ids of 4 bytes, so 1,100 rows make a shard of about 1.1 MiB.
const ROW_LEN: usize = 256;
const ROWS_PER_SHARD: u64 = 1100;

/// One cache directory for this test process (tests keep apart by their bucket prefix).
fn cache_root() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let d = DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        shared_server();
        // SAFETY: set once, under the OnceLock, before a cache is opened.
        unsafe { std::env::set_var("SLUICE_CACHE", d.path()) };
        d
    });
    d.path()
}

/// Packs `rows` rows per domain (ids derived from domain, row and position) into `dir` and
/// writes its manifest.
fn pack(dir: &Path, domains: &[(&str, u64)]) -> Manifest {
    let mut m = Manifest {
        format_version: Manifest::FORMAT_VERSION,
        tokenizer: TokenizerInfo {
            path: "t.json".into(),
            xxh3_128: "0".into(),
            vocab_size: 50_000,
            eos_id: 0,
            pad_id: 1,
        },
        seq_len: ROW_LEN as u32 - 1,
        row_len: ROW_LEN as u32,
        remainder: "pad".into(),
        domains: BTreeMap::new(),
    };
    for (k, &(name, rows)) in domains.iter().enumerate() {
        let mut w = DomainShardWriter::new(dir, name, ROW_LEN, ROWS_PER_SHARD);
        for r in 0..rows {
            let valid = if r + 1 == rows {
                ROW_LEN as u32 / 3
            } else {
                ROW_LEN as u32
            };
            w.push(PackedRow {
                ids: (0..ROW_LEN as u32)
                    .map(|i| (k as u32 * 7919 + r as u32 * 31 + i) % 50_000)
                    .collect(),
                doc_starts: vec![0, (r % 200) as u32 + 1],
                valid_len: valid,
            })
            .unwrap();
        }
        let shards = w.finish().unwrap();
        let d = DomainShards {
            rows: shards.iter().map(|s| s.rows).sum(),
            tokens: shards.iter().map(|s| s.tokens).sum(),
            docs: rows,
            shards,
        };
        m.domains.insert(name.into(), d);
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    m
}

/// Uploads every file under `dir` to `prefix`.
fn upload(dir: &Path, prefix: &ObjectUrl) {
    for e in walk(dir) {
        let rel = e.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        prefix.join(&rel).put_file(&e).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A run packed locally and uploaded to `s3://BUCKET/run`: (local dir, manifest URL).
fn packed_run(bucket: &str, domains: &[(&str, u64)]) -> (tempfile::TempDir, String) {
    cache_root();
    shared_server().create_bucket(bucket);
    let dir = tempfile::tempdir().unwrap();
    pack(dir.path(), domains);
    let prefix = ObjectUrl {
        bucket: bucket.into(),
        key: "run".into(),
    };
    upload(dir.path(), &prefix);
    (dir, format!("s3://{bucket}/run/manifest.json"))
}

/// Every row of `a` equals the same row of `b`, read in a scattered order (so a small cache
/// evicts and fetches again).
/// Returns the last (domain, row) read.
fn assert_same_rows(a: &ShardSet, b: &ShardSet) -> (usize, usize) {
    let mut last = (0, 0);
    assert_eq!(a.domains.len(), b.domains.len());
    for d in 0..a.domains.len() {
        let n = a.domains[d].rows();
        assert_eq!(n, b.domains[d].rows());
        assert_eq!(a.domains[d].train, b.domains[d].train);
        for k in 0..n {
            let r = (k * 7919) % n;
            let (x, y) = (a.row(d, r).unwrap(), b.row(d, r).unwrap());
            assert_eq!(x.ids(), y.ids(), "domain {d} row {r}");
            assert_eq!(x.doc_starts(), y.doc_starts());
            assert_eq!(x.valid_len(), y.valid_len());
            last = (d, r);
        }
    }
    last
}

fn dir_bytes(dir: &Path) -> u64 {
    walk(dir).iter().map(|p| p.metadata().unwrap().len()).sum()
}

#[test]
fn rows_from_a_bucket_equal_local_rows_within_a_small_cache() {
    let (dir, url) = packed_run("feed-small-cache", &[("code", 3000), ("web", 2500)]);
    let local = ShardSet::open(
        dir.path().join("manifest.json").to_str().unwrap(),
        0.05,
        None,
    )
    .unwrap();
    // Six shards of about 1.1 MiB; the cache holds two.
    let remote = ShardSet::open(&url, 0.05, Some(3)).unwrap();
    assert_eq!(
        remote.cache_stats().unwrap().fetched,
        0,
        "nothing fetched at open"
    );
    let (d, r) = assert_same_rows(&local, &remote);
    let s = remote.cache_stats().unwrap();
    assert!(s.peak_bytes <= 3 << 20, "{s:?}");
    assert!(
        s.evicted > 0 && s.fetched > 5,
        "a small cache fetches again: {s:?}"
    );
    let slot = cache_root().join("shards/feed-small-cache/run/slot-0");
    assert!(dir_bytes(&slot) <= 3 << 20);
    // A second process (here: a second set) gets its own slot; a later one reuses the files.
    let other = ShardSet::open(&url, 0.05, Some(3)).unwrap();
    other.row(0, 0).unwrap();
    assert!(cache_root()
        .join("shards/feed-small-cache/run/slot-1")
        .is_dir());
    drop((remote, other));
    let again = ShardSet::open(&url, 0.05, Some(3)).unwrap();
    again.row(d, r).unwrap(); // the last shard read above: still on disk in slot-0
    let s = again.cache_stats().unwrap();
    assert_eq!((s.fetched, s.hits), (0, 1), "{s:?}");
}

#[test]
fn a_shard_changed_after_the_manifest_is_refused() {
    let (_dir, url) = packed_run("feed-changed", &[("web", 1500)]);
    let obj = ObjectUrl {
        bucket: "feed-changed".into(),
        key: "run/shards/web/part-00001.arrow".into(),
    };
    let mut bytes = obj.get().unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    obj.put(bytes.into()).unwrap();
    let set = ShardSet::open(&url, 0.0, None).unwrap();
    set.row(0, 0).unwrap();
    let e = set.row(0, 1200).err().expect("a changed shard is refused");
    let msg = e.to_string();
    assert!(
        msg.contains("s3://feed-changed/run/shards/web/part-00001.arrow")
            && msg.contains("SHA-256"),
        "{msg}"
    );
    // Nothing of it stays in the cache.
    let slot = cache_root().join("shards/feed-changed/run/slot-0");
    assert_eq!(
        walk(&slot).len(),
        1,
        "only the good shard: {:?}",
        walk(&slot)
    );
}

#[test]
fn a_cache_smaller_than_a_shard_and_an_old_manifest_are_refused_clearly() {
    let (dir, url) = packed_run("feed-refusals", &[("web", 1200)]);
    let set = ShardSet::open(&url, 0.0, Some(1)).unwrap();
    let msg = set.row(0, 0).err().unwrap().to_string();
    assert!(
        msg.contains("more than the whole cache (cache_mb = 1)"),
        "{msg}"
    );
    // A manifest written before shards carried their SHA-256.
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    for s in m["domains"]["web"]["shards"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("sha256");
        s.remove("bytes");
    }
    let old = ObjectUrl {
        bucket: "feed-refusals".into(),
        key: "old/manifest.json".into(),
    };
    old.put(serde_json::to_vec(&m).unwrap().into()).unwrap();
    let msg = ShardSet::open("s3://feed-refusals/old/manifest.json", 0.0, None)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("no size and SHA-256"), "{msg}");
    let msg = ShardSet::open("s3://feed-refusals/none/manifest.json", 0.0, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("s3://feed-refusals/none/manifest.json: no such object"),
        "{msg}"
    );
}

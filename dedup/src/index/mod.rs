//! Persistent dedup indexes: what `exact_dedup` and `minhash_dedup` keep across runs, so a
//! nightly batch is deduplicated against everything curated before it without reading the
//! history again.
//!
//! An index is a directory (or `s3://` prefix) with `index.json` (the dedup settings it
//! serves and its segments, in the order they were added) and `segments/`: one immutable
//! [`segment`] per run, like an LSM tree's runs; `sluice index compact` merges them.
//!
//! A stage's `index = PATH` is read and extended: at the start the run takes the index's
//! lock and pins the segments it will read (`index-snapshot.json` in the barrier's work dir,
//! so a resumed run reads the same ones); resolve drops documents whose keys (verified, for
//! MinHash) are in those segments and writes this run's survivors as a staged segment; when
//! the run completes, [`DedupIndex::publish`] puts the segment in place and then rewrites the
//! manifest, the one commit point (a run killed before it adds nothing; a rerun of a run
//! already listed, by fingerprint, adds nothing). `reference = [PATH, …]` indexes are read
//! only, never locked or extended. Settings are checked against every manifest before any
//! work.

mod location;
pub mod segment;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pipeline::{BarrierRun, RunGuard, StageEnv, StageError};
use serde::{Deserialize, Serialize};

pub use location::IndexStore;
pub use segment::{Extra, IndexKey, Segment, SegmentRun, SegmentSummary, SegmentWriter};

/// What can go wrong with a dedup index, naming it.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "dedup index {index} was built with {found}, this stage has {wanted}; an index serves only the settings it was built with (use another index path)"
    )]
    Params {
        index: String,
        found: String,
        wanted: String,
    },
    #[error("dedup index {index}: segment {name} is listed in index.json but missing")]
    MissingSegment { index: String, name: String },
    #[error("dedup index {index} does not exist (no index.json); a reference must be an index written by an earlier run")]
    NoIndex { index: String },
    #[error("dedup index {index}: {message}")]
    Corrupt { index: String, message: String },
    #[error(
        "dedup index {index} is in use by another sluice run{holder}; wait for it to finish (two runs extending one index at once are refused)"
    )]
    Locked { index: String, holder: String },
    #[error(
        "dedup index {index} changed while this run used it: {what}; rerun into a new output dir"
    )]
    Changed { index: String, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Stage(#[from] StageError),
}

impl IndexError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<IndexError> for StageError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Stage(s) => s,
            IndexError::Io { path, source } => StageError::Io { path, source },
            other => StageError::Config(other.to_string()),
        }
    }
}

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// `exact_dedup` or `minhash_dedup`.
    pub kind: String,
    /// The settings that decide the keys (and what verification needs).
    pub params: BTreeMap<String, String>,
    pub segments: Vec<SegmentEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    pub name: String,
    pub checksum: String,
    pub bytes: u64,
    pub entries: u64,
    pub docs: u64,
    pub runs: Vec<SegmentRun>,
}

impl SegmentEntry {
    fn from_summary(name: String, s: SegmentSummary) -> Self {
        SegmentEntry {
            name,
            checksum: s.checksum,
            bytes: s.bytes,
            entries: s.entries,
            docs: s.docs,
            runs: s.runs,
        }
    }

    fn has_run(&self, fingerprint: &str) -> bool {
        self.runs.iter().any(|r| r.fingerprint == fingerprint)
    }
}

const FORMAT: u32 = 1;
const SNAPSHOT: &str = "index-snapshot.json";
const STAGED: &str = "index-segment.seg";

/// The segments a run reads, pinned at its start.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    /// The run's name and fingerprint.
    run: String,
    fingerprint: String,
    /// Per index (references first, then the extended one), its location and segments.
    indexes: Vec<(String, Vec<SegmentEntry>)>,
}

/// The index settings of one dedup stage.
pub(crate) struct DedupIndex {
    kind: &'static str,
    key_bytes: usize,
    pub extra: Extra,
    params: BTreeMap<String, String>,
    own: Option<IndexStore>,
    references: Vec<IndexStore>,
    /// The lookup opened by this process, for the barrier dir it was opened for.
    opened: Mutex<Option<(PathBuf, Arc<Lookup>)>>,
}

impl DedupIndex {
    /// The stage's `index` and `reference` keys; `None` when neither is set. Every existing
    /// manifest must have been built with `params` (checked now, before any work).
    pub fn new(
        kind: &'static str,
        key_bytes: usize,
        extra: Extra,
        params: BTreeMap<String, String>,
        index: Option<&str>,
        reference: &[String],
        env: &StageEnv,
    ) -> Result<Option<Self>, String> {
        if index.is_none() && reference.is_empty() {
            return Ok(None);
        }
        let parse = |s: &str| IndexStore::parse(s, &env.base_dir).map_err(|e| e.to_string());
        let d = DedupIndex {
            kind,
            key_bytes,
            extra,
            params,
            own: index.map(parse).transpose()?,
            references: reference
                .iter()
                .map(|s| parse(s))
                .collect::<Result<_, _>>()?,
            opened: Mutex::new(None),
        };
        if let Some(o) = &d.own {
            if d.references.contains(o) {
                return Err(format!("{o} is both the index and a reference"));
            }
        }
        let errors: Vec<String> = d
            .stores()
            .filter_map(|(s, own)| d.checked_manifest(s, own).err())
            .map(|e| e.to_string())
            .collect();
        match errors.is_empty() {
            true => Ok(Some(d)),
            false => Err(errors.join("; ")),
        }
    }

    /// References, then the extended index (with `true`).
    fn stores(&self) -> impl Iterator<Item = (&IndexStore, bool)> {
        let refs = self.references.iter().map(|r| (r, false));
        refs.chain(self.own.iter().map(|o| (o, true)))
    }

    /// The manifest of `s` after checking its settings (`None`: no index yet, allowed only
    /// for the extended one).
    fn checked_manifest(
        &self,
        s: &IndexStore,
        own: bool,
    ) -> Result<Option<location::ReadManifest>, IndexError> {
        let Some(read) = s.read_manifest()? else {
            return match own {
                true => Ok(None),
                false => Err(IndexError::NoIndex {
                    index: s.to_string(),
                }),
            };
        };
        let m = &read.manifest;
        let mut found = BTreeMap::from([
            ("format".to_string(), m.format.to_string()),
            ("stage".to_string(), m.kind.clone()),
        ]);
        found.extend(m.params.clone());
        let mut wanted = BTreeMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("stage".to_string(), self.kind.to_string()),
        ]);
        wanted.extend(self.params.clone());
        let keys: std::collections::BTreeSet<&String> = found.keys().chain(wanted.keys()).collect();
        let differ: Vec<&String> = keys
            .into_iter()
            .filter(|k| found.get(*k) != wanted.get(*k))
            .collect();
        if differ.is_empty() {
            return Ok(Some(read));
        }
        let show = |map: &BTreeMap<String, String>| {
            let kv = differ.iter().map(|k| {
                let v = map.get(*k).map_or("(unset)", |v| v.as_str());
                format!("{k} = {v}")
            });
            kv.collect::<Vec<_>>().join(", ")
        };
        Err(IndexError::Params {
            index: s.to_string(),
            found: show(&found),
            wanted: show(&wanted),
        })
    }

    /// Locks the extended index and pins the segments this run reads (kept from the first
    /// start: a resumed run reads what it read before).
    pub fn begin(&self, run: &BarrierRun) -> Result<Option<RunGuard>, StageError> {
        let guard = match &self.own {
            Some(o) => Some(Box::new(o.lock()?) as RunGuard),
            None => None,
        };
        let path = run.dir.join(SNAPSHOT);
        if path.exists() {
            return Ok(guard);
        }
        let mut indexes = vec![];
        for (s, own) in self.stores() {
            let segs = match self.checked_manifest(s, own)? {
                Some(r) => r.manifest.segments,
                None => vec![],
            };
            indexes.push((s.to_string(), segs));
        }
        let snap = Snapshot {
            run: run.name.clone(),
            fingerprint: run.fingerprint.clone(),
            indexes,
        };
        let bytes = serde_json::to_vec_pretty(&snap).expect("serializes");
        pipeline::durable::write_atomic(&path, &bytes).map_err(|e| StageError::io(&path, e))?;
        Ok(guard)
    }

    /// The pinned segments of the run whose barrier dir is `dir`, opened once per process;
    /// documents of this very run (a rerun of a run already added) are passed over.
    pub fn lookup(&self, dir: &Path) -> Result<Arc<Lookup>, StageError> {
        let mut cached = self.opened.lock().expect("not poisoned");
        if let Some((d, l)) = &*cached {
            if d == dir {
                return Ok(l.clone());
            }
        }
        let l = Arc::new(self.open(dir)?);
        *cached = Some((dir.to_path_buf(), l.clone()));
        Ok(l)
    }

    fn open(&self, dir: &Path) -> Result<Lookup, StageError> {
        let (path, snap) = read_snapshot(dir)?;
        let fingerprint = snap.fingerprint.as_str();
        let mut segs = vec![];
        for ((s, _), (name, entries)) in self.stores().zip(&snap.indexes) {
            if *name != s.to_string() {
                return Err(StageError::corrupt(
                    &path,
                    "pins other indexes than the config's",
                ));
            }
            for e in entries {
                let file = s.segment_file(e, self.key_bytes)?;
                let seg = Segment::open(&file, self.key_bytes)?;
                if seg.checksum() != e.checksum {
                    return Err(IndexError::Corrupt {
                        index: s.to_string(),
                        message: format!("segment {} is not the one index.json lists", e.name),
                    }
                    .into());
                }
                let skip = seg
                    .runs()
                    .iter()
                    .filter(|r| r.fingerprint == fingerprint)
                    .map(|r| (r.first_doc, r.first_doc + r.docs))
                    .collect();
                segs.push(OpenSegment { seg, skip });
            }
        }
        Ok(Lookup {
            segs,
            run: snap.run.clone(),
            fingerprint: snap.fingerprint.clone(),
        })
    }

    /// Whether this run extends an index (and so writes a staged segment).
    pub fn extends(&self) -> bool {
        self.own.is_some()
    }

    /// Where resolve writes this run's segment, and its staging dir.
    pub fn staged(dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join(STAGED), dir.join("index-staging"))
    }

    /// Writes this run's segment for [`publish`](Self::publish), unless an earlier try
    /// did: `keys` pushes the survivors' (key, document) entries in order, `doc` gives
    /// document `d`'s id, source and extra, for `docs` documents.
    pub fn write_staged<K: IndexKey>(
        &self,
        dir: &Path,
        expected: u64,
        docs: u64,
        keys: impl FnOnce(&mut SegmentWriter<K>) -> Result<(), StageError>,
        doc: impl Fn(u64) -> Result<(String, String, Vec<u32>), StageError>,
    ) -> Result<(), StageError> {
        let (path, staging) = Self::staged(dir);
        if !self.extends() || path.exists() {
            return Ok(());
        }
        if docs > u32::MAX as u64 {
            return Err(StageError::Limit(format!(
                "dedup index: {docs} documents in one run; at most 2^32 are indexed"
            )));
        }
        let lookup = self.lookup(dir)?;
        let mut w = SegmentWriter::<K>::create(&staging, expected, self.extra)?;
        keys(&mut w)?;
        for d in 0..docs {
            let (id, source, extra) = doc(d)?;
            w.push_doc(&id, &source, &extra)?;
        }
        w.add_run(SegmentRun {
            run: lookup.run.clone(),
            fingerprint: lookup.fingerprint.clone(),
            first_doc: 0,
            docs,
        });
        w.finish(&path)?;
        let _ = std::fs::remove_dir_all(&staging);
        Ok(())
    }

    /// Adds the staged segment to the extended index (see the module docs).
    pub fn publish(&self, run: &BarrierRun) -> Result<(), StageError> {
        let Some(own) = &self.own else {
            return Ok(());
        };
        let prev = self.checked_manifest(own, true)?;
        let listed = prev.as_ref().map_or(&[][..], |r| &r.manifest.segments[..]);
        if listed.iter().any(|e| e.has_run(&run.fingerprint)) {
            tracing::info!(index = %own, "this run is already in the dedup index");
            return Ok(());
        }
        self.check_unchanged(own, run, listed)?;
        let (staged, _) = Self::staged(&run.dir);
        let seg = Segment::open(&staged, self.key_bytes)?;
        seg.verify()?;
        let name = format!("{}-{}.seg", &run.fingerprint[..16], seg.checksum());
        let entry = SegmentEntry {
            name: name.clone(),
            checksum: seg.checksum().to_string(),
            bytes: std::fs::metadata(&staged)
                .map_err(|e| StageError::io(&staged, e))?
                .len(),
            entries: seg.entries(),
            docs: seg.docs(),
            runs: seg.runs().to_vec(),
        };
        own.put_segment(&staged, &name)?;
        // Test hook: a window between the segment and the manifest for a SIGKILL.
        if let Some(ms) = std::env::var("SLUICE_TEST_INDEX_APPEND_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let mut m = match &prev {
            Some(r) => r.manifest.clone(),
            None => Manifest {
                format: FORMAT,
                kind: self.kind.to_string(),
                params: self.params.clone(),
                segments: vec![],
            },
        };
        m.segments.push(entry);
        own.write_manifest(&m, prev.as_ref())?;
        tracing::info!(index = %own, segment = %name, docs = seg.docs(), "added this run to the dedup index");
        Ok(())
    }

    /// Refuses to add to an index that gained runs this run did not read.
    fn check_unchanged(
        &self,
        own: &IndexStore,
        run: &BarrierRun,
        listed: &[SegmentEntry],
    ) -> Result<(), StageError> {
        let (_, snap) = read_snapshot(&run.dir)?;
        let seen: Vec<&str> = snap
            .indexes
            .last()
            .into_iter()
            .flat_map(|(_, segs)| segs.iter())
            .flat_map(|e| e.runs.iter().map(|r| r.fingerprint.as_str()))
            .collect();
        let new = listed
            .iter()
            .flat_map(|e| e.runs.iter())
            .find(|r| !seen.contains(&r.fingerprint.as_str()));
        match new {
            None => Ok(()),
            Some(r) => Err(IndexError::Changed {
                index: own.to_string(),
                what: format!("run {} was added after this run started", r.run),
            }
            .into()),
        }
    }
}

/// The snapshot in barrier dir `dir`, with its path.
fn read_snapshot(dir: &Path) -> Result<(PathBuf, Snapshot), StageError> {
    let path = dir.join(SNAPSHOT);
    let bytes = std::fs::read(&path).map_err(|e| StageError::io(&path, e))?;
    let snap = serde_json::from_slice(&bytes)
        .map_err(|e| StageError::corrupt(&path, format!("cannot parse: {e}")))?;
    Ok((path, snap))
}

struct OpenSegment {
    seg: Segment,
    /// Document ranges of this very run (passed over).
    skip: Vec<(u64, u64)>,
}

/// The pinned segments of a run's indexes, for lookups. A reference to an indexed
/// document is `segment << 32 | doc`, segments numbered in snapshot order (so smaller is
/// earlier).
pub struct Lookup {
    segs: Vec<OpenSegment>,
    /// This run's name and fingerprint (for its own segment).
    pub run: String,
    pub fingerprint: String,
}

impl Lookup {
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Up to `max` indexed documents holding `key`, earliest first.
    pub fn find<K: IndexKey>(&self, key: K, max: usize, out: &mut Vec<u64>) {
        out.clear();
        let mut docs = vec![];
        for (i, s) in self.segs.iter().enumerate() {
            docs.clear();
            s.seg.lookup(key, &mut docs);
            for &d in &docs {
                if out.len() >= max {
                    return;
                }
                let dd = d as u64;
                if !s.skip.iter().any(|&(a, b)| dd >= a && dd < b) {
                    out.push((i as u64) << 32 | dd);
                }
            }
        }
    }

    fn split(&self, r: u64) -> (&Segment, u32) {
        (&self.segs[(r >> 32) as usize].seg, r as u32)
    }

    /// "ID (SOURCE) of run RUN" for an indexed document.
    pub fn label(&self, r: u64) -> Result<String, StageError> {
        Ok(self.named(r)?.1)
    }

    /// An indexed document's id and its label.
    pub fn named(&self, r: u64) -> Result<(String, String), StageError> {
        let (seg, d) = self.split(r);
        let (id, source) = seg.doc(d)?;
        let run = seg.run_of(d).map_or("?", |x| x.run.as_str());
        let label = format!("{} of run {run}", doc_label(&id, &source));
        Ok((id, label))
    }

    /// An indexed document's shingle set or signature.
    pub fn extra(&self, r: u64) -> Result<Vec<u32>, StageError> {
        let (seg, d) = self.split(r);
        seg.extra(d)
    }
}

/// How a drop names the kept document: its id and source file.
pub(crate) fn doc_label(id: &str, source: &str) -> String {
    match source.is_empty() {
        true => id.to_string(),
        false => format!("{id} ({source})"),
    }
}

/// The manifest of the index at `location` (an error when there is none).
pub fn manifest(location: &str) -> Result<(IndexStore, Manifest), IndexError> {
    let s = IndexStore::parse(location, Path::new("."))?;
    match s.read_manifest()? {
        Some(r) => Ok((s, r.manifest)),
        None => Err(IndexError::NoIndex {
            index: s.to_string(),
        }),
    }
}

/// Reads every segment of the index at `location` whole and checks it against its
/// checksum; returns the segments checked.
pub fn verify(location: &str) -> Result<usize, IndexError> {
    let (s, m) = manifest(location)?;
    let key_bytes = key_bytes(&m.kind);
    for e in &m.segments {
        let seg = Segment::open(&s.segment_file(e, key_bytes)?, key_bytes)?;
        seg.verify()?;
        if seg.checksum() != e.checksum {
            return Err(IndexError::Corrupt {
                index: s.to_string(),
                message: format!("segment {} is not the one index.json lists", e.name),
            });
        }
    }
    Ok(m.segments.len())
}

fn key_bytes(kind: &str) -> usize {
    match kind {
        "exact_dedup" => 16,
        _ => 8,
    }
}

/// Merges every segment of the index at `location` into one (under its lock); returns the
/// segment counts before and after. `staging` holds the work files.
pub fn compact(location: &str, staging: &Path) -> Result<(usize, usize), IndexError> {
    let s = IndexStore::parse(location, Path::new("."))?;
    let _lock = s.lock()?;
    let Some(read) = s.read_manifest()? else {
        return Err(IndexError::NoIndex {
            index: s.to_string(),
        });
    };
    let m = &read.manifest;
    let before = m.segments.len();
    if before < 2 {
        return Ok((before, before));
    }
    let key_bytes = key_bytes(&m.kind);
    let mut segs = vec![];
    for e in &m.segments {
        let seg = Segment::open(&s.segment_file(e, key_bytes)?, key_bytes)?;
        seg.verify()?;
        segs.push(seg);
    }
    std::fs::create_dir_all(staging).map_err(|e| IndexError::io(staging, e))?;
    let out = staging.join("compacted.seg");
    let summary = match key_bytes {
        16 => merge_segments::<u128>(&segs, &staging.join("st"), &out)?,
        _ => merge_segments::<u64>(&segs, &staging.join("st"), &out)?,
    };
    let name = format!("compact-{}.seg", summary.checksum);
    s.put_segment(&out, &name)?;
    let mut next = m.clone();
    next.segments = vec![SegmentEntry::from_summary(name, summary)];
    s.write_manifest(&next, Some(&read))?;
    for e in &m.segments {
        s.delete_segment(&e.name)?;
    }
    let _ = std::fs::remove_file(&out);
    Ok((before, 1))
}

/// One segment with every entry and document of `segs`, in order (documents renumbered).
fn merge_segments<K: IndexKey>(
    segs: &[Segment],
    staging: &Path,
    out: &Path,
) -> Result<SegmentSummary, StageError> {
    use std::cmp::Reverse;
    let kind = segs[0].extra_kind();
    let total: u64 = segs.iter().map(|s| s.entries()).sum();
    let mut w = SegmentWriter::<K>::create(staging, total, kind)?;
    let mut base = vec![0u64];
    for s in segs {
        base.push(base.last().unwrap() + s.docs());
    }
    if *base.last().unwrap() > u32::MAX as u64 {
        return Err(StageError::Limit(
            "dedup index: more than 2^32 documents in one compacted segment".into(),
        ));
    }
    let mut heap = std::collections::BinaryHeap::new();
    for (i, s) in segs.iter().enumerate() {
        if s.entries() > 0 {
            let (k, d) = s.entry::<K>(0);
            heap.push(Reverse((k, d as u64 + base[i], i, 0u64)));
        }
    }
    while let Some(Reverse((k, d, i, at))) = heap.pop() {
        w.push_entry(k, d as u32)?;
        if at + 1 < segs[i].entries() {
            let (k2, d2) = segs[i].entry::<K>(at + 1);
            heap.push(Reverse((k2, d2 as u64 + base[i], i, at + 1)));
        }
    }
    for (i, s) in segs.iter().enumerate() {
        for d in 0..s.docs() as u32 {
            let (id, source) = s.doc(d)?;
            w.push_doc(&id, &source, &s.extra(d)?)?;
        }
        for r in s.runs() {
            w.add_run(SegmentRun {
                first_doc: r.first_doc + base[i],
                ..r.clone()
            });
        }
    }
    w.finish(out)
}

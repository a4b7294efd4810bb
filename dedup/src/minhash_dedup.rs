//! `minhash_dedup`: near-duplicate removal by MinHash LSH, in phases that scale past memory.
//!
//! 1. Observer (per shard, parallel): shingles → signature → one key per band, appended
//!    to `bands-SSSSS-PPP.bin` for partition `key % partitions`; ids, lengths and scores
//!    (and, when verifying, signatures or shingle sets) go to per-shard side files.
//! 2. Resolve, per partition in parallel: the partition's band records of all shards are
//!    sorted on disk within `memory_mb` (external merge sort); documents sharing a key are
//!    candidate pairs, optionally verified, and written to `pairs-PPP.bin`. A finished
//!    partition is skipped when a crashed resolve is rerun.
//! 3. Connected components over all pairs with a lock-free parallel union-find whose roots
//!    are the smallest run-order index.
//! 4. Per component the keep rule picks one survivor; `clusters-SSSSS.bin` lists each
//!    member's row, cluster size and survivor id.
//! 5. Applier: adds `dup_cluster` (survivor's id) and `dup_cluster_size` columns and rejects
//!    the other members with the survivor's id as detail. After an `exact_dedup`, a kept
//!    document's size starts from the exact copies dropped in its favour (the exact copies
//!    of the members it absorbs are not added: they were counted on documents now dropped).
//!
//! Memory: the observer streams; a partition is sorted in at most `memory_mb` split across
//! the workers; the union-find holds 4 bytes per document (the documented exception, as in
//! every connected-components dedup), and the cluster lists hold only the duplicates.
//! Nothing depends on `--workers`: keys are sorted, edges are unordered facts, roots are
//! minima, and ties in the keep rule go to the earliest document.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, UInt32Builder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use pipeline::document::{str_column, with_column, ID, SOURCE, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{
    Barrier, BarrierObserver, Decisions, Stage, StageContext, StageEnv, StageError, StageKind,
    StageOutput,
};
use rayon::prelude::*;
use serde::Deserialize;

use crate::docstore::{
    commit, create, push_entry, row_of, DocStore, DocStoreWriter, RowEntries, MAX_OPEN_FILES,
};
use crate::index::{doc_label, DedupIndex, Extra, Lookup};
use crate::minhash::{band_keys, estimated_jaccard, LshParams, MinHasher};
use crate::records::{
    check_sort_settings, default_memory_mb, default_partitions, ioe, sort_budget, sorted_merge,
    write_atomic, RecordReader, RecordWriter,
};
use crate::shingle::{jaccard, shingles, ShingleKind};
use crate::unionfind::UnionFind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// Every document sharing a band key is a duplicate (as datasketch, rensa, datatrove).
    None,
    /// Candidates must have a signature-estimated Jaccard ≥ threshold.
    Signature,
    /// Candidates must have a true Jaccard of their shingle sets ≥ threshold.
    Exact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepRule {
    /// The earliest document in run order.
    First,
    /// The longest text (in characters); ties to the earliest.
    Longest,
    /// The highest value of `score_column`; ties to the earliest.
    Score,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinHashConfig {
    #[serde(default = "d_threshold")]
    pub threshold: f64,
    #[serde(default = "d_perm")]
    pub num_perm: usize,
    /// Both or neither; when unset they are chosen from `threshold`.
    pub bands: Option<usize>,
    pub rows: Option<usize>,
    #[serde(default = "d_shingle")]
    pub shingle: ShingleKind,
    #[serde(default = "d_ngram")]
    pub ngram: usize,
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_verify")]
    pub verify: Verify,
    #[serde(default = "d_keep")]
    pub keep: KeepRule,
    pub score_column: Option<String>,
    #[serde(default = "default_partitions")]
    pub partitions: usize,
    #[serde(default = "default_memory_mb")]
    pub memory_mb: usize,
    /// A persistent index (a directory or `s3://` prefix) this run reads and extends:
    /// near-duplicates of indexed documents are dropped, this run's survivors are added
    /// when it completes.
    pub index: Option<String>,
    /// Read-only indexes (an earlier corpus, another team's).
    #[serde(default)]
    pub reference: Vec<String>,
}

fn d_threshold() -> f64 {
    0.8
}
fn d_perm() -> usize {
    128
}
fn d_shingle() -> ShingleKind {
    ShingleKind::Word
}
fn d_ngram() -> usize {
    5
}
fn d_seed() -> u64 {
    1
}
fn d_verify() -> Verify {
    Verify::Exact
}
fn d_keep() -> KeepRule {
    KeepRule::First
}

impl Default for MinHashConfig {
    fn default() -> Self {
        parse_stage_table(toml::Table::new()).expect("defaults parse")
    }
}

impl MinHashConfig {
    /// Checks the settings and works out the banding.
    pub fn params(&self) -> Result<LshParams, String> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(format!(
                "threshold = {} must be between 0 and 1",
                self.threshold
            ));
        }
        if self.num_perm == 0 || self.num_perm > 4096 {
            return Err(format!("num_perm = {} must be 1..=4096", self.num_perm));
        }
        if self.ngram == 0 {
            return Err("ngram must be at least 1".into());
        }
        check_sort_settings(self.partitions, self.memory_mb)?;
        if (self.keep == KeepRule::Score) != self.score_column.is_some() {
            return Err(
                "keep = \"score\" needs score_column (and score_column needs keep = \"score\")"
                    .into(),
            );
        }
        match (self.bands, self.rows) {
            (None, None) => Ok(LshParams::for_threshold(self.threshold, self.num_perm)),
            (Some(b), Some(r)) if b > 0 && r > 0 && b * r <= self.num_perm => Ok(LshParams {
                num_perm: self.num_perm,
                bands: b,
                rows: r,
            }),
            (Some(b), Some(r)) => Err(format!(
                "bands x rows = {b} x {r} must be positive and at most num_perm = {}",
                self.num_perm
            )),
            _ => Err("set both bands and rows, or neither (then they follow threshold)".into()),
        }
    }
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: MinHashConfig = parse_stage_table(table)?;
    let mut dd = MinHashDedup::new(c)?;
    let c = &dd.config;
    dd.index = DedupIndex::new(
        "minhash_dedup",
        8,
        match c.verify {
            Verify::None => Extra::None,
            Verify::Signature => Extra::Sigs,
            Verify::Exact => Extra::Shingles,
        },
        dd.index_params(),
        c.index.as_deref(),
        &c.reference,
        env,
    )?;
    Ok(StageKind::Barrier(Box::new(dd)))
}

/// The `minhash_dedup` barrier.
pub struct MinHashDedup {
    config: MinHashConfig,
    params: LshParams,
    hasher: MinHasher,
    index: Option<DedupIndex>,
}

impl MinHashDedup {
    pub fn new(config: MinHashConfig) -> Result<Self, String> {
        let params = config.params()?;
        tracing::info!("minhash_dedup: {}", params.describe());
        Ok(MinHashDedup {
            hasher: MinHasher::new(params.num_perm, config.seed),
            params,
            config,
            index: None,
        })
    }

    /// The settings an index built by this stage serves (what decides its band keys and
    /// what verification reads).
    fn index_params(&self) -> BTreeMap<String, String> {
        let c = &self.config;
        BTreeMap::from([
            ("num_perm".to_string(), self.params.num_perm.to_string()),
            ("bands".to_string(), self.params.bands.to_string()),
            ("rows".to_string(), self.params.rows.to_string()),
            ("seed".to_string(), c.seed.to_string()),
            (
                "shingle".to_string(),
                format!("{:?}", c.shingle).to_lowercase(),
            ),
            ("ngram".to_string(), c.ngram.to_string()),
            (
                "verify".to_string(),
                format!("{:?}", c.verify).to_lowercase(),
            ),
        ])
    }

    pub fn params(&self) -> LshParams {
        self.params
    }

    fn extra_kind(&self) -> Option<&'static str> {
        match self.config.verify {
            Verify::None => None,
            Verify::Signature => Some("sigs"),
            Verify::Exact => Some("shingles"),
        }
    }
}

/// A member's fate in a cluster file.
const KEPT: u8 = 0;
const DROPPED: u8 = 1;
const DROPPED_INDEXED: u8 = 2;

/// A bucket member is verified against at most this many earlier members (the first ones).
const VERIFY_WITH: usize = 8;

fn bands_file(dir: &Path, shard: usize, part: usize) -> PathBuf {
    dir.join(format!("bands-{shard:05}-{part:03}.bin"))
}

fn pairs_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("pairs-{part:03}.bin"))
}

/// (candidate pairs, verified pairs) of one partition, committed before its pairs file.
fn tally_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("pairs-{part:03}.tally"))
}

/// A partition's (member, indexed document) matches.
fn ipairs_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("ipairs-{part:03}.bin"))
}

/// A partition's (band key, document) records in key order, for the run's index segment.
fn keys_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("keys-{part:03}.bin"))
}

fn clusters_file(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("clusters-{shard:05}.bin"))
}

struct Observer {
    shard: usize,
    parts: Vec<RecordWriter<(u64, u64)>>,
    store: DocStoreWriter,
    dd: MinHashDedupRef,
}

/// What an observer needs of the barrier (cloned, so observers are `'static`).
#[derive(Clone)]
struct MinHashDedupRef {
    hasher: MinHasher,
    params: LshParams,
    shingle: ShingleKind,
    ngram: usize,
    verify: Verify,
    score_column: Option<String>,
}

fn score_values(batch: &RecordBatch, col: &str) -> Result<Vec<f32>, StageError> {
    let c = batch
        .column_by_name(col)
        .ok_or_else(|| StageError::MissingColumn(col.to_string()))?;
    let f = cast(c, &DataType::Float32).map_err(|_| StageError::ColumnType {
        column: col.to_string(),
        found: c.data_type().to_string(),
        expected: "a number",
    })?;
    let f = f
        .as_any()
        .downcast_ref::<arrow::array::Float32Array>()
        .expect("cast to Float32");
    Ok((0..f.len())
        .map(|i| {
            if f.is_null(i) {
                f32::NEG_INFINITY
            } else {
                f.value(i)
            }
        })
        .collect())
}

impl BarrierObserver for Observer {
    fn observe(&mut self, batch: &RecordBatch, row_offset: u64) -> Result<(), StageError> {
        let text = str_column(batch, TEXT)?;
        let ids = str_column(batch, ID)?;
        let sources = str_column(batch, SOURCE)?;
        let scores = match &self.dd.score_column {
            Some(c) => Some(score_values(batch, c)?),
            None => None,
        };
        let d = &self.dd;
        let per_doc: Vec<(Vec<u64>, Vec<u32>, u32)> = (0..batch.num_rows())
            .into_par_iter()
            .map(|i| {
                let t = text.value(i);
                let sh = shingles(t, d.shingle, d.ngram);
                let mut keys = Vec::new();
                let mut sig = Vec::new();
                if !sh.is_empty() {
                    d.hasher.signature_into(&sh, &mut sig);
                    band_keys(&sig, &d.params, &mut keys);
                }
                let extra = match d.verify {
                    Verify::None => Vec::new(),
                    Verify::Signature => sig,
                    Verify::Exact => sh,
                };
                (keys, extra, t.chars().count() as u32)
            })
            .collect();
        let parts = self.parts.len() as u64;
        for (i, (keys, extra, len)) in per_doc.into_iter().enumerate() {
            let row = row_offset + i as u64;
            if row > u32::MAX as u64 {
                return Err(StageError::Limit(format!(
                    "minhash_dedup: shard {} has more than 2^32 rows; split the input",
                    self.shard
                )));
            }
            let docref = ((self.shard as u64) << 32) | row;
            for k in keys {
                self.parts[(k % parts) as usize].push(&(k, docref))?;
            }
            let score = scores.as_ref().map_or(0.0, |s| s[i]);
            self.store
                .push(ids.value(i), sources.value(i), len, score, &extra)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), StageError> {
        for p in self.parts {
            p.commit()?;
        }
        self.store.commit()
    }
}

/// Counts of one resolve, logged and written to `summary.json`.
#[derive(Default)]
struct Tally {
    candidate_pairs: AtomicU64,
    verified_pairs: AtomicU64,
}

impl MinHashDedup {
    /// The candidate (and verified) pairs of partition `part`, with its tally; skipped when
    /// a previous attempt finished it.
    fn partition_pairs(
        &self,
        dir: &Path,
        part: usize,
        shards: usize,
        workers: usize,
    ) -> Result<(), StageError> {
        let out = pairs_file(dir, part);
        if out.exists() {
            return Ok(());
        }
        let max_open = (MAX_OPEN_FILES / workers.max(1)).max(16);
        let store = &DocStore::open(dir, shards, self.extra_kind(), max_open)?;
        let budget = sort_budget(self.config.memory_mb, workers, self.config.partitions);
        let tally = &Tally::default();
        let inputs: Vec<PathBuf> = (0..shards).map(|s| bands_file(dir, s, part)).collect();
        let mut w = RecordWriter::<(u64, u64)>::create(&out)?;
        let mut indexed = match &self.index {
            Some(i) => Some((
                i.lookup(dir)?,
                RecordWriter::create(&ipairs_file(dir, part))?,
            )),
            None => None,
        };
        let mut keys = match self.index.as_ref().is_some_and(|i| i.extends()) {
            true => Some(RecordWriter::<(u64, u64)>::create(&keys_file(dir, part))?),
            false => None,
        };
        let mut group: Vec<u64> = Vec::new();
        let mut cur: Option<u64> = None;
        let mut flush =
            |key: Option<u64>, group: &mut Vec<u64>, w: &mut RecordWriter<(u64, u64)>| {
                if let (Some(k), Some((lookup, iw))) = (key, indexed.as_mut()) {
                    self.match_indexed(k, group, store, lookup, iw)?;
                }
                let r = self.emit_group(group, store, w, tally);
                group.clear();
                r
            };
        sorted_merge::<(u64, u64)>(
            &inputs,
            &dir.join(format!("sort-{part:03}")),
            budget,
            |(k, d)| {
                if cur != Some(k) {
                    flush(cur, &mut group, &mut w)?;
                    cur = Some(k);
                }
                if let Some(kw) = keys.as_mut() {
                    kw.push(&(k, d))?;
                }
                group.push(d);
                Ok(())
            },
        )?;
        flush(cur, &mut group, &mut w)?;
        if let Some(kw) = keys {
            kw.commit()?;
        }
        if let Some((_, iw)) = indexed {
            iw.commit()?;
        }
        let counts = format!(
            "{} {}\n",
            tally.candidate_pairs.load(Ordering::Relaxed),
            tally.verified_pairs.load(Ordering::Relaxed)
        );
        write_atomic(&tally_file(dir, part), counts.as_bytes())?;
        w.commit()
    }

    /// The tallies of every partition, summed.
    fn read_tallies(&self, dir: &Path) -> Result<(u64, u64), StageError> {
        let (mut cand, mut ver) = (0, 0);
        for p in 0..self.config.partitions {
            let path = tally_file(dir, p);
            let text = std::fs::read_to_string(&path).map_err(ioe(&path))?;
            let mut it = text.split_whitespace().map(str::parse::<u64>);
            match (it.next(), it.next()) {
                (Some(Ok(c)), Some(Ok(v))) => (cand, ver) = (cand + c, ver + v),
                _ => return Err(StageError::corrupt(&path, "not two counts")),
            }
        }
        Ok((cand, ver))
    }

    /// Edges for one band bucket (`members` in run order). Unverified: a star to the first.
    /// Verified: each member links to the first earlier member (of up to 8) that passes.
    fn emit_group(
        &self,
        members: &[u64],
        store: &DocStore,
        w: &mut RecordWriter<(u64, u64)>,
        tally: &Tally,
    ) -> Result<(), StageError> {
        if members.len() < 2 {
            return Ok(());
        }
        tally
            .candidate_pairs
            .fetch_add(members.len() as u64 - 1, Ordering::Relaxed);
        let dense: Vec<u64> = members.iter().map(|&d| store.dense(d)).collect();
        if self.config.verify == Verify::None {
            for &m in &dense[1..] {
                w.push(&(dense[0], m))?;
            }
            tally
                .verified_pairs
                .fetch_add(members.len() as u64 - 1, Ordering::Relaxed);
            return Ok(());
        }
        // Only the first VERIFY_WITH members are compared against, so only their sets stay in
        // memory: a bucket of 50,000 copies of one long document holds 9 sets, not 50,000.
        let firsts = dense[..dense.len().min(VERIFY_WITH)]
            .iter()
            .map(|&d| store.extra(d))
            .collect::<Result<Vec<_>, _>>()?;
        for j in 1..dense.len() {
            let own;
            let set_j = match firsts.get(j) {
                Some(s) => s,
                None => {
                    own = store.extra(dense[j])?;
                    &own
                }
            };
            for (i, set_i) in firsts.iter().enumerate().take(j.min(VERIFY_WITH)) {
                let sim = match self.config.verify {
                    Verify::Exact => jaccard(set_i, set_j),
                    _ => estimated_jaccard(set_i, set_j),
                };
                if sim >= self.config.threshold {
                    w.push(&(dense[i], dense[j]))?;
                    tally.verified_pairs.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Members of a band bucket (`members`, doc refs) that match a document indexed under
    /// the same key (verified as inside a run, against up to 8 indexed documents): one
    /// (member, indexed document) record each.
    fn match_indexed(
        &self,
        key: u64,
        members: &[u64],
        store: &DocStore,
        lookup: &Lookup,
        w: &mut RecordWriter<(u64, u64)>,
    ) -> Result<(), StageError> {
        let mut found = vec![];
        lookup.find(key, VERIFY_WITH, &mut found);
        if found.is_empty() {
            return Ok(());
        }
        let theirs = match self.config.verify {
            Verify::None => vec![],
            _ => found
                .iter()
                .map(|&r| lookup.extra(r))
                .collect::<Result<Vec<_>, _>>()?,
        };
        for &m in members {
            let dense = store.dense(m);
            let hit = match self.config.verify {
                Verify::None => Some(found[0]),
                v => {
                    let mine = store.extra(dense)?;
                    found.iter().zip(&theirs).find_map(|(&r, set)| {
                        let sim = match v {
                            Verify::Exact => jaccard(&mine, set),
                            _ => estimated_jaccard(&mine, set),
                        };
                        (sim >= self.config.threshold).then_some(r)
                    })
                }
            };
            if let Some(r) = hit {
                w.push(&(dense, r))?;
            }
        }
        Ok(())
    }

    fn keeper(&self, members: &[u32], store: &DocStore) -> Result<u32, StageError> {
        let mut best = members[0];
        if self.config.keep == KeepRule::First {
            return Ok(best);
        }
        let key = |m: u32| -> Result<f64, StageError> {
            let (len, score) = store.meta(m as u64)?;
            Ok(match self.config.keep {
                KeepRule::Longest => len as f64,
                _ => score as f64,
            })
        };
        let mut best_key = key(best)?;
        for &m in &members[1..] {
            let k = key(m)?;
            if k > best_key {
                best = m;
                best_key = k;
            }
        }
        Ok(best)
    }

    fn resolve_inner(&self, dir: &Path, shards: usize, workers: usize) -> Result<(), StageError> {
        // Pieces not run as tasks of their own (a direct call) run here.
        (0..self.config.partitions)
            .into_par_iter()
            .try_for_each(|p| self.partition_pairs(dir, p, shards, workers))?;
        let (candidate_pairs, verified_pairs) = self.read_tallies(dir)?;
        let store = DocStore::open(dir, shards, self.extra_kind(), MAX_OPEN_FILES)?;
        let total = store.total();
        if total >= u32::MAX as u64 {
            return Err(StageError::Limit(format!(
                "minhash_dedup: {total} documents in one run; at most {} are supported",
                u32::MAX - 1
            )));
        }
        let parts = self.config.partitions;
        let uf = UnionFind::new(total as usize);
        (0..parts).into_par_iter().try_for_each(|p| {
            let path = pairs_file(dir, p);
            let mut r = RecordReader::<(u64, u64)>::open(&path)?;
            while let Some((a, b)) = r.next_record()? {
                uf.union(a as u32, b as u32);
            }
            Ok::<(), StageError>(())
        })?;

        // Components holding a match of an indexed document keep it (the earliest).
        let mut indexed: HashMap<u32, u64> = HashMap::new();
        if self.index.is_some() {
            for p in 0..parts {
                let mut r = RecordReader::<(u64, u64)>::open(&ipairs_file(dir, p))?;
                while let Some((m, x)) = r.next_record()? {
                    let e = indexed.entry(uf.find(m as u32)).or_insert(x);
                    *e = (*e).min(x);
                }
            }
        }
        // (root, member) for every document in a non-trivial component.
        let mut linked: Vec<(u32, u32)> = (0..total as u32)
            .into_par_iter()
            .filter_map(|i| {
                let r = uf.find(i);
                (r != i).then_some((r, i))
            })
            .collect();
        drop(uf);
        linked.par_sort_unstable();
        // (member, cluster size, KEEP / DROPPED / DROPPED_INDEXED, survivor: a document of
        // this run or an indexed one)
        let mut members: Vec<(u32, u32, u8, u64)> = Vec::with_capacity(linked.len() * 2);
        let mut clusters = 0u64;
        let mut i = 0;
        while i < linked.len() {
            let root = linked[i].0;
            let mut group = vec![root];
            while i < linked.len() && linked[i].0 == root {
                group.push(linked[i].1);
                i += 1;
            }
            clusters += 1;
            let size = group.len() as u32;
            if let Some(r) = indexed.remove(&root) {
                members.extend(group.iter().map(|&m| (m, size, DROPPED_INDEXED, r)));
                continue;
            }
            let keep = self.keeper(&group, &store)?;
            for &m in &group {
                let kind = if m == keep { KEPT } else { DROPPED };
                members.push((m, size, kind, keep as u64));
            }
        }
        // Documents matching an indexed one and nothing in this run.
        members.extend(indexed.into_iter().map(|(m, r)| (m, 1, DROPPED_INDEXED, r)));
        members.par_sort_unstable();
        let dropped = members.iter().filter(|m| m.2 != KEPT).count();
        let dropped_indexed = members.iter().filter(|m| m.2 == DROPPED_INDEXED).count();
        let lookup = self.index.as_ref().map(|i| i.lookup(dir)).transpose()?;

        // Each shard's cluster file is written as a stream, in row order.
        let mut id_cache = HashMap::new();
        let mut k = 0;
        let mut rec = Vec::new();
        for shard in 0..shards {
            let path = clusters_file(dir, shard);
            let mut out = create(&path)?;
            let end = store.offsets[shard + 1];
            while k < members.len() && (members[k].0 as u64) < end {
                let (m, size, kind, keep) = members[k];
                let (id, label) = match (kind, &lookup) {
                    (DROPPED_INDEXED, Some(l)) => l.named(keep)?,
                    _ => {
                        let (id, source) = store.doc_cached(&mut id_cache, keep)?;
                        let label = doc_label(&id, &source);
                        (id, label)
                    }
                };
                // The survivor's id (the dup_cluster column), then how a drop names it.
                let id = format!("{id}\0{label}");
                let mut head = [0u8; 13];
                head[..8].copy_from_slice(&(m as u64 - store.offsets[shard]).to_le_bytes());
                head[8..12].copy_from_slice(&size.to_le_bytes());
                head[12] = kind;
                rec.clear();
                push_entry(&mut rec, &head, &id);
                out.write_all(&rec).map_err(ioe(&path))?;
                k += 1;
            }
            commit(out, &path)?;
        }
        let summary = format!(
            "{{\"documents\": {total}, \"candidate_pairs\": {candidate_pairs}, \"verified_pairs\": {verified_pairs}, \"clusters\": {clusters}, \"dropped\": {dropped}, \"dropped_indexed\": {dropped_indexed}, \"bands\": {}, \"rows\": {}}}\n",
            self.params.bands,
            self.params.rows
        );
        write_atomic(&dir.join("summary.json"), summary.as_bytes())?;
        tracing::info!("minhash_dedup resolved: {}", summary.trim());
        self.write_segment(dir, &store, members)
    }

    /// This run's index segment: the survivors' band keys, with their shingle sets or
    /// signatures when verifying. `members`: the cluster members (which were dropped).
    fn write_segment(
        &self,
        dir: &Path,
        store: &DocStore,
        members: Vec<(u32, u32, u8, u64)>,
    ) -> Result<(), StageError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let mut gone = vec![0u64; (store.total() as usize).div_ceil(64)];
        for m in members.iter().filter(|m| m.2 != KEPT) {
            gone[m.0 as usize / 64] |= 1 << (m.0 % 64);
        }
        drop(members);
        let is_gone = |d: u64| gone[d as usize / 64] >> (d % 64) & 1 == 1;
        let parts: Vec<PathBuf> = (0..self.config.partitions)
            .map(|p| keys_file(dir, p))
            .collect();
        let expected = parts
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len() / 16))
            .sum();
        let budget = sort_budget(self.config.memory_mb, 1, 1);
        let verify = self.config.verify != Verify::None;
        index.write_staged::<u64>(
            dir,
            expected,
            store.total(),
            |w| {
                sorted_merge::<(u64, u64)>(&parts, &dir.join("sort-keys"), budget, |(k, d)| {
                    let dense = store.dense(d);
                    match is_gone(dense) {
                        true => Ok(()),
                        false => w.push_entry(k, dense as u32),
                    }
                })
            },
            |d| {
                let (id, source) = store.doc(d)?;
                let extra = match verify && !is_gone(d) {
                    true => store.extra(d)?,
                    false => vec![],
                };
                Ok((id, source, extra))
            },
        )
    }
}

/// Applies a shard's cluster file (entries: row u64, cluster size u32, dropped u8, survivor
/// id), read as its batches arrive.
struct Applier {
    members: RowEntries<17>,
}

impl Applier {
    /// row → (cluster size, fate, survivor) for rows `start..end`.
    fn take(&self, start: u64, end: u64) -> Result<HashMap<u64, (u32, u8, String)>, StageError> {
        Ok(self
            .members
            .take(start, end)?
            .into_iter()
            .map(|(h, id)| {
                let size = u32::from_le_bytes(h[8..12].try_into().unwrap());
                (row_of(&h), (size, h[12], id))
            })
            .collect())
    }
}

impl Stage for Applier {
    fn name(&self) -> &str {
        "minhash_dedup"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let n = batch.num_rows();
        let members = self.take(ctx.row_offset, ctx.row_offset + n as u64)?;
        let mut d = Decisions::with_capacity(n);
        let mut cluster = StringBuilder::with_capacity(n, 0);
        let mut size = UInt32Builder::with_capacity(n);
        // An earlier exact_dedup's sizes: a document's exact copies count in its cluster.
        let before = batch.column_by_name("dup_cluster_size").and_then(|c| {
            c.as_any()
                .downcast_ref::<arrow::array::UInt32Array>()
                .cloned()
        });
        let earlier = |i: usize| {
            before
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map_or(1, |c| c.value(i))
        };
        for i in 0..n {
            match members.get(&(ctx.row_offset + i as u64)) {
                Some((s, fate, named)) => {
                    let (keep, label) = named.split_once('\0').unwrap_or((named, named));
                    cluster.append_value(keep);
                    size.append_value(match *fate {
                        KEPT => earlier(i).saturating_add(s - 1),
                        _ => *s,
                    });
                    let detail = format!("near-duplicate of {label}");
                    match *fate {
                        KEPT => {
                            ctx.count("clusters_kept", 1);
                            d.keep();
                        }
                        DROPPED => d.reject("minhash_dedup.near_duplicate", Some(&detail)),
                        _ => d.reject("minhash_dedup.duplicate_of_indexed", Some(&detail)),
                    }
                }
                None => {
                    cluster.append_null();
                    size.append_value(earlier(i));
                    d.keep();
                }
            }
        }
        let batch = with_column(
            &batch,
            "dup_cluster",
            std::sync::Arc::new(cluster.finish()) as ArrayRef,
        )?;
        let batch = with_column(
            &batch,
            "dup_cluster_size",
            std::sync::Arc::new(size.finish()) as ArrayRef,
        )?;
        Ok(d.finish(batch))
    }
}

impl Barrier for MinHashDedup {
    fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        Ok(pipeline::columns_plus(
            input,
            &["dup_cluster", "dup_cluster_size"],
        ))
    }

    fn name(&self) -> &str {
        "minhash_dedup"
    }

    fn observer(&self, shard: usize, dir: &Path) -> Result<Box<dyn BarrierObserver>, StageError> {
        std::fs::create_dir_all(dir).map_err(ioe(dir))?;
        let parts = (0..self.config.partitions)
            .map(|p| RecordWriter::create(&bands_file(dir, shard, p)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(Observer {
            shard,
            parts,
            store: DocStoreWriter::create(dir, shard, self.extra_kind())?,
            dd: MinHashDedupRef {
                hasher: self.hasher.clone(),
                params: self.params,
                shingle: self.config.shingle,
                ngram: self.config.ngram,
                verify: self.config.verify,
                score_column: self.config.score_column.clone(),
            },
        }))
    }

    partitioned_resolve!();

    fn applier(&self, shard: usize, dir: &Path) -> Result<Box<dyn Stage>, StageError> {
        Ok(Box::new(Applier {
            members: RowEntries::open(&clusters_file(dir, shard))?,
        }))
    }

    index_lifecycle!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The applier reads its shard's cluster file as batches arrive: after the first batch
    /// only the first part of a 200,000-entry file has been read, and the entries come out
    /// right batch by batch (a shard of millions of duplicates used to be one map in memory).
    #[test]
    fn the_applier_streams_its_cluster_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clusters-00000.bin");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for row in (0..400_000u64).step_by(2) {
            let id = format!("doc-{}", row / 10);
            f.write_all(&row.to_le_bytes()).unwrap();
            f.write_all(&7u32.to_le_bytes()).unwrap();
            f.write_all(&[(row % 10 != 0) as u8]).unwrap();
            f.write_all(&(id.len() as u32).to_le_bytes()).unwrap();
            f.write_all(id.as_bytes()).unwrap();
        }
        drop(f);
        let len = std::fs::metadata(&path).unwrap().len();
        let a = Applier {
            members: RowEntries::open(&path).unwrap(),
        };
        let first = a.take(0, 1000).unwrap();
        assert_eq!(first.len(), 500);
        assert_eq!(first[&998], (7, DROPPED, "doc-99".to_string()));
        let read = a.members.bytes_read();
        assert!(
            read * 10 < len,
            "read {read} of {len} bytes for the first batch"
        );
        let next = a.take(1000, 1010).unwrap();
        assert_eq!(next.len(), 5);
        assert_eq!(next[&1000], (7, KEPT, "doc-100".to_string()));
        assert!(a.take(400_000, 500_000).unwrap().is_empty());
    }
}

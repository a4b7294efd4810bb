//! `exact_dedup`: drops documents (or lines, or paragraphs) whose normalised text was seen
//! earlier in run order, in the same disk-backed shape as `minhash_dedup`.
//!
//! Observer: per shard, one (xxh3-128, position) record per unit into
//! `xbands-SSSSS-PPP.bin` for partition `hash % partitions`, plus the ids. Position =
//! shard (16 bits) · row (32 bits) · unit (16 bits), so sorting positions is run order.
//! Resolve: each partition is sorted on disk (external merge sort within `memory_mb`); in
//! every group of equal hashes the first position survives and the others are written as
//! (dropped, kept) pairs; the pairs are then sorted by position into `drop-SSSSS.bin` per
//! shard. Applier: document mode rejects the row (`exact_dedup.duplicate`, detail: the kept
//! id); line/paragraph mode removes the repeated units from the text and rejects a document
//! only when nothing is left (`exact_dedup.all_units_duplicate`).
//! Memory: the sort budget, plus the drop lists while they are written (duplicates only).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use pipeline::document::{str_column, with_column, ID, SOURCE, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{
    Barrier, BarrierObserver, Decisions, Stage, StageContext, StageEnv, StageError, StageKind,
    StageOutput,
};
use rayon::prelude::*;
use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::docstore::{
    commit, create, push_entry, row_of, DocStore, DocStoreWriter, RowEntries, MAX_OPEN_FILES,
};
use crate::index::{doc_label, DedupIndex, Extra, Lookup};
use crate::normalize::normalize_for_hash;
use crate::records::{
    check_sort_settings, default_memory_mb, default_partitions, ioe, sort_budget, sorted_merge,
    RecordWriter,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Document,
    /// Lines (split on `\n`).
    Line,
    /// Paragraphs (split on blank lines).
    Paragraph,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactConfig {
    /// Hash NFKC-lowercased, whitespace-collapsed text (true) or the raw text (false).
    #[serde(default = "yes")]
    pub normalize: bool,
    #[serde(default = "doc")]
    pub granularity: Granularity,
    /// Line/paragraph mode: units shorter than this (characters, after trimming) are never
    /// treated as duplicates (blank lines, "Thanks!", list bullets).
    #[serde(default = "min_chars")]
    pub min_unit_chars: usize,
    #[serde(default = "default_partitions")]
    pub partitions: usize,
    #[serde(default = "default_memory_mb")]
    pub memory_mb: usize,
    /// Document mode: add `dup_cluster_size` (1 + the copies dropped in its favour) to every
    /// kept document, for upsampling by cluster size later (FineWeb-2's rehydration).
    #[serde(default = "yes")]
    pub cluster_size: bool,
    /// A persistent index (a directory or `s3://` prefix) this run reads and extends:
    /// units already in it are dropped, and this run's survivors are added when it completes.
    pub index: Option<String>,
    /// Read-only indexes (an earlier corpus, another team's): units in them are dropped.
    #[serde(default)]
    pub reference: Vec<String>,
}

fn yes() -> bool {
    true
}
fn doc() -> Granularity {
    Granularity::Document
}
fn min_chars() -> usize {
    20
}

impl Default for ExactConfig {
    fn default() -> Self {
        parse_stage_table(toml::Table::new()).expect("defaults parse")
    }
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: ExactConfig = parse_stage_table(table)?;
    check_sort_settings(c.partitions, c.memory_mb)?;
    let index = DedupIndex::new(
        "exact_dedup",
        16,
        Extra::None,
        c.index_params(),
        c.index.as_deref(),
        &c.reference,
        env,
    )?;
    Ok(StageKind::Barrier(Box::new(ExactDedup {
        config: c,
        index: index.map(Arc::new),
    })))
}

impl ExactConfig {
    /// The settings an index built by this stage serves.
    fn index_params(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::from([
            ("normalize".to_string(), self.normalize.to_string()),
            (
                "granularity".to_string(),
                format!("{:?}", self.granularity).to_lowercase(),
            ),
        ]);
        if self.granularity != Granularity::Document {
            p.insert("min_unit_chars".into(), self.min_unit_chars.to_string());
        }
        p
    }
}

#[derive(Clone)]
pub struct ExactDedup {
    pub config: ExactConfig,
    index: Option<Arc<DedupIndex>>,
}

impl ExactDedup {
    /// The stage without persistent indexes.
    pub fn new(config: ExactConfig) -> Self {
        ExactDedup {
            config,
            index: None,
        }
    }
}

const ROW_BITS: u64 = 32;
const UNIT_BITS: u64 = 16;

fn pos(shard: usize, row: u64, unit: u64) -> u64 {
    ((shard as u64) << (ROW_BITS + UNIT_BITS)) | (row << UNIT_BITS) | unit
}

fn unpack(p: u64) -> (usize, u64, u64) {
    (
        (p >> (ROW_BITS + UNIT_BITS)) as usize,
        (p >> UNIT_BITS) & 0xFFFF_FFFF,
        p & 0xFFFF,
    )
}

fn bands_file(dir: &Path, shard: usize, part: usize) -> PathBuf {
    dir.join(format!("xbands-{shard:05}-{part:03}.bin"))
}

fn pairs_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("xdrops-{part:03}.bin"))
}

/// A partition's surviving (hash, position)s, in hash order, for the run's index segment.
fn keys_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("xkeys-{part:03}.bin"))
}

fn drop_file(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("drop-{shard:05}.bin"))
}

/// A partition's (kept position, copies dropped in its favour).
fn part_sizes_file(dir: &Path, part: usize) -> PathBuf {
    dir.join(format!("xsizes-{part:03}.bin"))
}

/// A shard's cluster sizes (entries: row u64, size u32, empty id).
fn size_file(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("size-{shard:05}.bin"))
}

/// The units of `text` with their byte ranges.
fn units(text: &str, g: Granularity) -> Vec<(usize, usize)> {
    let mut out = vec![];
    match g {
        Granularity::Document => out.push((0, text.len())),
        Granularity::Line => {
            let mut start = 0;
            for (i, b) in text.bytes().enumerate() {
                if b == b'\n' {
                    out.push((start, i + 1));
                    start = i + 1;
                }
            }
            if start < text.len() {
                out.push((start, text.len()));
            }
        }
        Granularity::Paragraph => {
            let mut start = 0;
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'\n' {
                    let mut j = i + 1;
                    while j < bytes.len()
                        && (bytes[j] == b' ' || bytes[j] == b'\t' || bytes[j] == b'\r')
                    {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j] == b'\n' {
                        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        out.push((start, j));
                        start = j;
                        i = j;
                        continue;
                    }
                }
                i += 1;
            }
            if start < text.len() {
                out.push((start, text.len()));
            }
        }
    }
    out
}

impl ExactDedup {
    fn unit_hash(&self, s: &str) -> Option<u128> {
        if self.config.granularity != Granularity::Document
            && s.trim().chars().count() < self.config.min_unit_chars
        {
            return None;
        }
        Some(if self.config.normalize {
            xxh3_128(normalize_for_hash(s).as_bytes())
        } else {
            xxh3_128(s.as_bytes())
        })
    }
}

struct Observer {
    dd: ExactDedup,
    shard: usize,
    parts: Vec<RecordWriter<(u128, u64)>>,
    store: DocStoreWriter,
}

impl BarrierObserver for Observer {
    fn observe(&mut self, batch: &RecordBatch, row_offset: u64) -> Result<(), StageError> {
        let text = str_column(batch, TEXT)?;
        let ids = str_column(batch, ID)?;
        let sources = str_column(batch, SOURCE)?;
        let dd = &self.dd;
        let hashes: Vec<Vec<(u64, u128)>> = (0..batch.num_rows())
            .into_par_iter()
            .map(|i| {
                let t = text.value(i);
                units(t, dd.config.granularity)
                    .into_iter()
                    .enumerate()
                    .take(1 << UNIT_BITS)
                    .filter_map(|(u, (a, b))| dd.unit_hash(&t[a..b]).map(|h| (u as u64, h)))
                    .collect()
            })
            .collect();
        let n = self.parts.len() as u128;
        for (i, hs) in hashes.into_iter().enumerate() {
            let row = row_offset + i as u64;
            if row >= 1 << ROW_BITS {
                return Err(StageError::Limit(format!(
                    "exact_dedup: shard {} has more than 2^32 rows; split the input",
                    self.shard
                )));
            }
            for (u, h) in hs {
                self.parts[(h % n) as usize].push(&(h, pos(self.shard, row, u)))?;
            }
            self.store
                .push(ids.value(i), sources.value(i), 0, 0.0, &[])?;
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

impl ExactDedup {
    /// Duplicates in partition `p`: (dropped position, kind, kept position or indexed
    /// document); skipped when a previous attempt finished it.
    fn partition_pairs(
        &self,
        dir: &Path,
        p: usize,
        shards: usize,
        workers: usize,
    ) -> Result<(), StageError> {
        let out = pairs_file(dir, p);
        if out.exists() {
            return Ok(());
        }
        let budget = sort_budget(self.config.memory_mb, workers, self.config.partitions);
        let inputs: Vec<PathBuf> = (0..shards).map(|s| bands_file(dir, s, p)).collect();
        let extends = self.index.as_ref().is_some_and(|i| i.extends());
        let mut sink = PartitionSink {
            pairs: RecordWriter::create(&out)?,
            sizes: match self.sizes() {
                true => Some(RecordWriter::create(&part_sizes_file(dir, p))?),
                false => None,
            },
            keys: match extends {
                true => Some(RecordWriter::create(&keys_file(dir, p))?),
                false => None,
            },
            lookup: self.index.as_ref().map(|i| i.lookup(dir)).transpose()?,
            cur: None,
            found: vec![],
        };
        sorted_merge::<(u128, u64)>(
            &inputs,
            &dir.join(format!("xsort-{p:03}")),
            budget,
            |(h, at)| sink.record(h, at),
        )?;
        sink.commit()
    }

    /// Whether this run writes `dup_cluster_size`.
    fn sizes(&self) -> bool {
        self.config.cluster_size && self.config.granularity == Granularity::Document
    }

    /// Per shard, in row order: each kept document's cluster size.
    fn write_sizes(&self, dir: &Path, shards: usize, budget: usize) -> Result<(), StageError> {
        let parts = self.config.partitions;
        let inputs: Vec<PathBuf> = (0..parts).map(|p| part_sizes_file(dir, p)).collect();
        let mut out = DropFiles::new(dir, size_file);
        sorted_merge::<(u64, u64)>(&inputs, &dir.join("xsort-sizes"), budget, |(at, copies)| {
            let (s, row, _) = unpack(at);
            out.advance_to(s)?;
            let mut head = [0u8; 12];
            head[..8].copy_from_slice(&row.to_le_bytes());
            head[8..].copy_from_slice(
                &(copies.saturating_add(1).min(u32::MAX as u64) as u32).to_le_bytes(),
            );
            let mut rec = Vec::with_capacity(16);
            push_entry(&mut rec, &head, "");
            out.write(&rec)
        })?;
        out.advance_to(shards)
    }

    fn resolve_inner(&self, dir: &Path, shards: usize, workers: usize) -> Result<(), StageError> {
        let parts = self.config.partitions;
        let budget = sort_budget(self.config.memory_mb, workers, parts);
        // Pieces not run as tasks of their own (a direct call) run here.
        (0..parts)
            .into_par_iter()
            .try_for_each(|p| self.partition_pairs(dir, p, shards, workers))?;
        // Per shard, in position order, with the kept document's id. Positions come out
        // shard-major, so each shard's drop file is written start to end and closed before
        // the next: memory holds one write buffer and a bounded id cache, not every list.
        let store = DocStore::open(dir, shards, None, MAX_OPEN_FILES)?;
        let inputs: Vec<PathBuf> = (0..parts).map(|p| pairs_file(dir, p)).collect();
        let mut out = DropFiles::new(dir, drop_file);
        let mut ids = HashMap::new();
        let lookup = self.index.as_ref().map(|i| i.lookup(dir)).transpose()?;
        sorted_merge::<(u64, u64, u64)>(
            &inputs,
            &dir.join("xsort-all"),
            budget,
            |(at, kind, kept)| {
                let (s, row, unit) = unpack(at);
                let id = match (kind, &lookup) {
                    (KEPT_INDEXED, Some(l)) => l.label(kept)?,
                    _ => {
                        let (ks, krow, _) = unpack(kept);
                        let (id, source) = store.doc_cached(&mut ids, store.offsets[ks] + krow)?;
                        doc_label(&id, &source)
                    }
                };
                out.advance_to(s)?;
                let mut head = [0u8; 11];
                head[..8].copy_from_slice(&row.to_le_bytes());
                head[8..10].copy_from_slice(&(unit as u16).to_le_bytes());
                head[10] = kind as u8;
                let mut rec = Vec::with_capacity(15 + id.len());
                push_entry(&mut rec, &head, &id);
                out.write(&rec)
            },
        )?;
        out.advance_to(shards)?;
        if self.sizes() {
            self.write_sizes(dir, shards, budget)?;
        }
        self.write_segment(dir, &store, budget)
    }

    /// This run's index segment: the surviving hashes, each with its document.
    fn write_segment(&self, dir: &Path, store: &DocStore, budget: usize) -> Result<(), StageError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let parts: Vec<PathBuf> = (0..self.config.partitions)
            .map(|p| keys_file(dir, p))
            .collect();
        let expected = parts
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len() / 24))
            .sum();
        index.write_staged::<u128>(
            dir,
            expected,
            store.total(),
            |w| {
                sorted_merge::<(u128, u64)>(&parts, &dir.join("xsort-keys"), budget, |(h, at)| {
                    let (s, row, _) = unpack(at);
                    w.push_entry(h, (store.offsets[s] + row) as u32)
                })
            },
            |d| {
                let (id, source) = store.doc(d)?;
                Ok((id, source, vec![]))
            },
        )
    }
}

/// Who a group of equal hashes keeps: a position of this run or an indexed document.
#[derive(Clone, Copy)]
enum Kept {
    Run(u64),
    Indexed(u64),
}

/// Drop kinds in the pairs files.
const KEPT_IN_RUN: u64 = 0;
const KEPT_INDEXED: u64 = 1;

/// Where one partition's sorted hashes go: drop pairs, cluster sizes, surviving keys.
struct PartitionSink {
    pairs: RecordWriter<(u64, u64, u64)>,
    sizes: Option<RecordWriter<(u64, u64)>>,
    keys: Option<RecordWriter<(u128, u64)>>,
    lookup: Option<Arc<Lookup>>,
    /// The current hash, who it keeps and the copies seen after the first.
    cur: Option<(u128, Kept, u64)>,
    found: Vec<u64>,
}

impl PartitionSink {
    fn record(&mut self, h: u128, at: u64) -> Result<(), StageError> {
        if let Some((ch, kept, copies)) = &mut self.cur {
            if *ch == h {
                *copies += 1;
                return match *kept {
                    Kept::Run(k) => self.pairs.push(&(at, KEPT_IN_RUN, k)),
                    Kept::Indexed(r) => self.pairs.push(&(at, KEPT_INDEXED, r)),
                };
            }
        }
        self.end_group()?;
        if let Some(l) = &self.lookup {
            l.find(h, 1, &mut self.found);
        }
        let kept = match self.found.first() {
            Some(&r) => {
                self.pairs.push(&(at, KEPT_INDEXED, r))?;
                Kept::Indexed(r)
            }
            _ => {
                if let Some(k) = &mut self.keys {
                    k.push(&(h, at))?;
                }
                Kept::Run(at)
            }
        };
        self.found.clear();
        self.cur = Some((h, kept, 0));
        Ok(())
    }

    fn end_group(&mut self) -> Result<(), StageError> {
        match (self.cur.take(), self.sizes.as_mut()) {
            (Some((_, Kept::Run(kept), copies)), Some(sw)) if copies > 0 => {
                sw.push(&(kept, copies))
            }
            _ => Ok(()),
        }
    }

    /// Commits every file, the pairs file (the marker of a finished partition) last.
    fn commit(mut self) -> Result<(), StageError> {
        self.end_group()?;
        if let Some(sw) = self.sizes {
            sw.commit()?;
        }
        if let Some(k) = self.keys {
            k.commit()?;
        }
        self.pairs.commit()
    }
}

/// The per-shard drop (or size) files, written in shard order: the current one open, the earlier ones
/// durably in place.
struct DropFiles {
    dir: PathBuf,
    path: fn(&Path, usize) -> PathBuf,
    /// The next shard whose file is not in place yet, and its open writer if any.
    next: usize,
    open: Option<BufWriter<pipeline::durable::WritebackFile>>,
}

impl DropFiles {
    fn new(dir: &Path, path: fn(&Path, usize) -> PathBuf) -> Self {
        DropFiles {
            dir: dir.to_path_buf(),
            path,
            next: 0,
            open: None,
        }
    }

    /// Puts in place every shard's file below `s` (empty where it had no drops).
    fn advance_to(&mut self, s: usize) -> Result<(), StageError> {
        while self.next < s {
            let path = (self.path)(&self.dir, self.next);
            let w = match self.open.take() {
                Some(w) => w,
                None => create(&path)?,
            };
            commit(w, &path)?;
            self.next += 1;
        }
        Ok(())
    }

    /// Appends a record to the current shard's file (opened on the first one).
    fn write(&mut self, rec: &[u8]) -> Result<(), StageError> {
        let path = (self.path)(&self.dir, self.next);
        if self.open.is_none() {
            self.open = Some(create(&path)?);
        }
        let w = self.open.as_mut().expect("opened above");
        w.write_all(rec).map_err(ioe(&path))
    }
}

/// row → [(unit, kept in an index, kept id)]
type Drops = HashMap<u64, Vec<(u16, bool, String)>>;

/// Applies a shard's drop file (entries: row u64, unit u16, id), read as its batches arrive.
struct Applier {
    granularity: Granularity,
    drops: RowEntries<15>,
    /// Kept documents' cluster sizes (row → size), when written.
    sizes: Option<RowEntries<16>>,
}

impl Applier {
    /// The drops of rows `start..end`.
    fn take(&self, start: u64, end: u64) -> Result<Drops, StageError> {
        let mut out: Drops = HashMap::new();
        for (h, id) in self.drops.take(start, end)? {
            let unit = u16::from_le_bytes(h[8..10].try_into().unwrap());
            let indexed = h[10] == KEPT_INDEXED as u8;
            out.entry(row_of(&h)).or_default().push((unit, indexed, id));
        }
        Ok(out)
    }
}

impl Applier {
    /// `batch` with `dup_cluster_size`: 1 for a document without copies.
    fn with_sizes(
        &self,
        batch: RecordBatch,
        sizes: &RowEntries<16>,
        start: u64,
    ) -> Result<RecordBatch, StageError> {
        let n = batch.num_rows();
        let mut col = vec![1u32; n];
        for (h, _) in sizes.take(start, start + n as u64)? {
            col[(row_of(&h) - start) as usize] = u32::from_le_bytes(h[8..12].try_into().unwrap());
        }
        let col = Arc::new(arrow::array::UInt32Array::from(col)) as ArrayRef;
        with_column(&batch, "dup_cluster_size", col)
    }
}

impl Stage for Applier {
    fn name(&self) -> &str {
        "exact_dedup"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let n = batch.num_rows();
        let drops = self.take(ctx.row_offset, ctx.row_offset + n as u64)?;
        let mut d = Decisions::with_capacity(n);
        if self.granularity == Granularity::Document {
            for i in 0..n {
                match drops.get(&(ctx.row_offset + i as u64)) {
                    Some(v) => d.reject(
                        match v[0].1 {
                            true => "exact_dedup.duplicate_of_indexed",
                            false => "exact_dedup.duplicate",
                        },
                        Some(&format!("duplicate of {}", v[0].2)),
                    ),
                    None => d.keep(),
                }
            }
            let batch = match &self.sizes {
                Some(sizes) => self.with_sizes(batch, sizes, ctx.row_offset)?,
                None => batch,
            };
            return Ok(d.finish(batch));
        }
        let text = str_column(&batch, TEXT)?;
        let mut new_text: Vec<String> = Vec::with_capacity(n);
        let mut changed = false;
        for i in 0..n {
            let t = text.value(i);
            match drops.get(&(ctx.row_offset + i as u64)) {
                None => {
                    new_text.push(t.to_string());
                    d.keep();
                }
                Some(v) => {
                    changed = true;
                    let gone: std::collections::HashSet<u16> = v.iter().map(|x| x.0).collect();
                    let mut kept = String::with_capacity(t.len());
                    for (u, (a, b)) in units(t, self.granularity).into_iter().enumerate() {
                        // Units past the first 2^16 are never hashed, so never dropped.
                        let checked = u < 1 << UNIT_BITS;
                        if !(checked && gone.contains(&(u as u16))) {
                            kept.push_str(&t[a..b]);
                        }
                    }
                    ctx.count("units_removed", gone.len() as u64);
                    if kept.trim().is_empty() {
                        d.reject(
                            "exact_dedup.all_units_duplicate",
                            Some(&format!("every unit seen before (first in {})", v[0].2)),
                        );
                    } else {
                        ctx.count("docs_edited", 1);
                        d.keep();
                    }
                    new_text.push(kept);
                }
            }
        }
        let batch = if changed {
            with_column(
                &batch,
                TEXT,
                Arc::new(StringArray::from(new_text)) as ArrayRef,
            )?
        } else {
            batch
        };
        Ok(d.finish(batch))
    }
}

impl Barrier for ExactDedup {
    fn name(&self) -> &str {
        "exact_dedup"
    }

    fn observer(&self, shard: usize, dir: &Path) -> Result<Box<dyn BarrierObserver>, StageError> {
        if shard >= 1 << 16 {
            return Err(StageError::Limit(
                "exact_dedup: more than 65536 shards; merge input files".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(ioe(dir))?;
        let parts = (0..self.config.partitions)
            .map(|p| RecordWriter::create(&bands_file(dir, shard, p)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(Observer {
            dd: self.clone(),
            shard,
            parts,
            store: DocStoreWriter::create(dir, shard, None)?,
        }))
    }

    partitioned_resolve!();

    fn applier(&self, shard: usize, dir: &Path) -> Result<Box<dyn Stage>, StageError> {
        let sizes = match self.sizes() {
            true => Some(RowEntries::open(&size_file(dir, shard))?),
            false => None,
        };
        Ok(Box::new(Applier {
            granularity: self.config.granularity,
            drops: RowEntries::open(&drop_file(dir, shard))?,
            sizes,
        }))
    }

    fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        Ok(match self.sizes() {
            true => pipeline::columns_plus(input, &["dup_cluster_size"]),
            false => input.to_vec(),
        })
    }

    index_lifecycle!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use pipeline::testing::{batch_with_ids, run_barrier};

    fn run(dd: &ExactDedup, shards: &[Vec<(&str, &str)>]) -> Vec<(String, bool, String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let batches: Vec<Vec<RecordBatch>> = shards
            .iter()
            .map(|docs| vec![batch_with_ids(&docs[..1]), batch_with_ids(&docs[1..])])
            .collect();
        let out = run_barrier(dd, dir.path(), &batches, 2).unwrap();
        // A rerun (after a crash) is harmless.
        let again = run_barrier(dd, dir.path(), &batches, 1).unwrap();
        let mut rows = vec![];
        for (r, docs) in out
            .iter()
            .chain(&again)
            .flatten()
            .zip(shards.iter().cycle().flat_map(|d| [&d[..1], &d[1..]]))
        {
            let t = str_column(&r.batch, TEXT).unwrap();
            for (i, (id, _)) in docs.iter().enumerate() {
                let detail = match r.detail.is_null(i) {
                    true => String::new(),
                    false => r.detail.value(i).to_string(),
                };
                rows.push((
                    id.to_string(),
                    r.keep.value(i),
                    t.value(i).to_string(),
                    detail,
                ));
            }
        }
        let (first, second) = rows.split_at(rows.len() / 2);
        assert_eq!(first, second);
        first.to_vec()
    }

    #[test]
    fn first_occurrence_in_run_order_survives() {
        let dd = ExactDedup::new(ExactConfig::default());
        let shards = [
            vec![
                ("a", "Hello  world"),
                ("b", "other text"),
                ("c", "hello world"),
            ],
            vec![("d", "HELLO WORLD"), ("e", "新闻 一"), ("f", "新闻　一")],
        ];
        let r = run(&dd, &shards);
        let kept: Vec<&str> = r.iter().filter(|x| x.1).map(|x| x.0.as_str()).collect();
        assert_eq!(kept, vec!["a", "b", "e"]);
        let details: Vec<&str> = r.iter().filter(|x| !x.1).map(|x| x.3.as_str()).collect();
        assert_eq!(
            details,
            vec![
                "duplicate of a (s)",
                "duplicate of a (s)",
                "duplicate of e (s)"
            ]
        );
    }

    #[test]
    fn kept_documents_carry_their_cluster_size() {
        let dd = ExactDedup::new(ExactConfig::default());
        let shards = [
            vec![("a", "one"), ("b", "two"), ("c", "ONE")],
            vec![("d", "one "), ("e", "three"), ("f", "two")],
        ];
        let batches: Vec<Vec<RecordBatch>> =
            shards.iter().map(|d| vec![batch_with_ids(d)]).collect();
        let dir = tempfile::tempdir().unwrap();
        let out = run_barrier(&dd, dir.path(), &batches, 2).unwrap();
        let sizes: Vec<(bool, u32)> = out
            .iter()
            .flatten()
            .flat_map(|r| {
                let c = r.batch.column_by_name("dup_cluster_size").unwrap();
                let c = c
                    .as_any()
                    .downcast_ref::<arrow::array::UInt32Array>()
                    .unwrap();
                (0..c.len())
                    .map(|i| (r.keep.value(i), c.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let kept: Vec<u32> = sizes.iter().filter(|x| x.0).map(|x| x.1).collect();
        assert_eq!(kept, [3, 2, 1], "a has 2 copies, b one, e none");
        let off = ExactDedup::new(
            parse_stage_table(toml::from_str("cluster_size = false").unwrap()).unwrap(),
        );
        let out = run_barrier(&off, tempfile::tempdir().unwrap().path(), &batches, 1).unwrap();
        assert!(out[0][0].batch.column_by_name("dup_cluster_size").is_none());
    }

    #[test]
    fn line_mode_removes_repeated_lines_and_keeps_the_rest() {
        let dd = ExactDedup::new(ExactConfig {
            granularity: Granularity::Line,
            min_unit_chars: 10,
            partitions: 3,
            ..Default::default()
        });
        let nav = "Home | News | Sport | Contact us\n";
        let (a, b, c) = (
            format!("{nav}First story about the harbour.\nok\n"),
            format!("{nav}Second story, on the railway.\nok\n"),
            format!("{nav}First story about the harbour.\n"),
        );
        let shards = [
            vec![("a", &*a), ("b", &*b)],
            vec![("c", &*c), ("d", "short\n")],
        ];
        let r = run(&dd, &shards);
        assert_eq!(r[0].2, format!("{nav}First story about the harbour.\nok\n"));
        // The menu line goes; "ok" is under min_unit_chars and stays.
        assert_eq!(r[1].2, "Second story, on the railway.\nok\n");
        assert!(r[1].1);
        assert!(!r[2].1, "every line of c was seen before");
        assert_eq!(r[2].3, "every unit seen before (first in a (s))");
        assert!(r[3].1);
    }

    /// Units past the 65,536th are not hashed; the applier must not take them for unit 0.
    #[test]
    fn units_past_the_hashed_range_are_kept() {
        let dd = ExactDedup::new(ExactConfig {
            granularity: Granularity::Line,
            ..Default::default()
        });
        let first = "a line that is repeated in both documents\n";
        let mut long = first.to_string();
        for i in 1..=(1 << UNIT_BITS) {
            long.push_str(&format!("unique line number {i:08} of the long document\n"));
        }
        let r = run(&dd, &[vec![("a", first), ("b", &long)]]);
        let kept = &r[1].2;
        assert_eq!(
            kept.len(),
            long.len() - first.len(),
            "only the first line goes"
        );
        assert!(kept.ends_with("unique line number 00065536 of the long document\n"));
    }

    #[test]
    fn paragraphs_split_on_blank_lines() {
        let t = "one\ntwo\n\n  \nthree\n\nfour";
        let u: Vec<&str> = units(t, Granularity::Paragraph)
            .iter()
            .map(|&(a, b)| &t[a..b])
            .collect();
        assert_eq!(u, vec!["one\ntwo\n\n  \n", "three\n\n", "four"]);
        assert_eq!(u.concat(), t);
    }
}

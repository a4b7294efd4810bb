//! `exact_dedup`: drops documents whose normalised text was seen before in run order.
//!
//! Observer: per shard, `hashes-NNNNN.bin` of (xxh3-128, row, id) records. Resolve: one pass
//! over the shards in order keeps the first row of each hash and writes `drop-NNNNN.bin`
//! (row, id of the kept copy) per shard. Applier: rejects the listed rows with
//! `exact_dedup.duplicate` and the kept document's id as detail.
//! The hash table of resolve holds 16 bytes + id per distinct document in memory; the
//! partitioned on-disk version arrives with the MinHash work (issue 4).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use pipeline::document::{str_column, ID, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::writer::tmp_path;
use pipeline::{
    Barrier, BarrierObserver, Decisions, Stage, StageContext, StageEnv, StageError, StageKind,
    StageOutput,
};
use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::normalize::normalize_for_hash;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExactConfig {
    /// Hash NFKC-lowercased, whitespace-collapsed text (true) or the raw text (false).
    #[serde(default = "yes")]
    normalize: bool,
}

fn yes() -> bool {
    true
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: ExactConfig = parse_stage_table(table)?;
    Ok(StageKind::Barrier(Box::new(ExactDedup {
        normalize: c.normalize,
    })))
}

#[derive(Debug, Clone)]
pub struct ExactDedup {
    pub normalize: bool,
}

fn hashes_file(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("hashes-{shard:05}.bin"))
}

fn drop_file(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("drop-{shard:05}.bin"))
}

fn ioe(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
    move |e| StageError::io(path, e)
}

fn create_tmp(path: &Path) -> Result<BufWriter<File>, StageError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(ioe(d))?;
    }
    let tmp = tmp_path(path);
    Ok(BufWriter::new(File::create(&tmp).map_err(ioe(&tmp))?))
}

fn commit(mut w: BufWriter<File>, path: &Path) -> Result<(), StageError> {
    w.flush().map_err(ioe(path))?;
    drop(w);
    std::fs::rename(tmp_path(path), path).map_err(ioe(path))
}

fn write_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u32).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// Reads one (u128?, u64, string) record; `None` at a clean end of file.
fn read_record(r: &mut impl Read, with_hash: bool) -> std::io::Result<Option<(u128, u64, String)>> {
    let mut hash = [0u8; 16];
    if with_hash {
        match r.read_exact(&mut hash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let mut row = [0u8; 8];
    match r.read_exact(&mut row) {
        Ok(()) => {}
        Err(e) if !with_hash && e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let mut s = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut s)?;
    let s = String::from_utf8(s)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(Some((
        u128::from_le_bytes(hash),
        u64::from_le_bytes(row),
        s,
    )))
}

struct ExactObserver {
    normalize: bool,
    path: PathBuf,
    out: BufWriter<File>,
}

impl BarrierObserver for ExactObserver {
    fn observe(&mut self, batch: &RecordBatch, row_offset: u64) -> Result<(), StageError> {
        let text = str_column(batch, TEXT)?;
        let ids = str_column(batch, ID)?;
        for i in 0..batch.num_rows() {
            let h = if self.normalize {
                xxh3_128(normalize_for_hash(text.value(i)).as_bytes())
            } else {
                xxh3_128(text.value(i).as_bytes())
            };
            let w = &mut self.out;
            w.write_all(&h.to_le_bytes())
                .and_then(|_| w.write_all(&(row_offset + i as u64).to_le_bytes()))
                .and_then(|_| write_str(w, ids.value(i)))
                .map_err(ioe(&self.path))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), StageError> {
        commit(self.out, &self.path)
    }
}

struct ExactApplier {
    drops: HashMap<u64, String>,
}

impl Stage for ExactApplier {
    fn name(&self) -> &str {
        "exact_dedup"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let mut d = Decisions::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            match self.drops.get(&(ctx.row_offset + i as u64)) {
                Some(kept) => d.reject(
                    "exact_dedup.duplicate",
                    Some(&format!("duplicate of {kept}")),
                ),
                None => d.keep(),
            }
        }
        Ok(d.finish(batch))
    }
}

impl Barrier for ExactDedup {
    fn name(&self) -> &str {
        "exact_dedup"
    }

    fn observer(&self, shard: usize, dir: &Path) -> Result<Box<dyn BarrierObserver>, StageError> {
        let path = hashes_file(dir, shard);
        Ok(Box::new(ExactObserver {
            normalize: self.normalize,
            out: create_tmp(&path)?,
            path,
        }))
    }

    fn resolve(&self, dir: &Path, shards: usize, _workers: usize) -> Result<(), StageError> {
        let mut first: HashMap<u128, String> = HashMap::new();
        for shard in 0..shards {
            let path = hashes_file(dir, shard);
            let mut r = BufReader::new(File::open(&path).map_err(ioe(&path))?);
            let out_path = drop_file(dir, shard);
            let mut w = create_tmp(&out_path)?;
            while let Some((h, row, id)) = read_record(&mut r, true).map_err(ioe(&path))? {
                match first.get(&h) {
                    Some(kept) => {
                        w.write_all(&row.to_le_bytes())
                            .and_then(|_| write_str(&mut w, kept))
                            .map_err(ioe(&out_path))?;
                    }
                    None => {
                        first.insert(h, id);
                    }
                }
            }
            commit(w, &out_path)?;
        }
        Ok(())
    }

    fn applier(&self, shard: usize, dir: &Path) -> Result<Box<dyn Stage>, StageError> {
        let path = drop_file(dir, shard);
        let mut r = BufReader::new(File::open(&path).map_err(ioe(&path))?);
        let mut drops = HashMap::new();
        while let Some((_, row, kept)) = read_record(&mut r, false).map_err(ioe(&path))? {
            drops.insert(row, kept);
        }
        Ok(Box::new(ExactApplier { drops }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::document::{DocBatchBuilder, Document};

    fn batch(texts: &[(&str, &str)]) -> RecordBatch {
        let mut b = DocBatchBuilder::new();
        for (id, t) in texts {
            b.push(&Document {
                id: id.to_string(),
                text: t.to_string(),
                source: "s".into(),
                domain: "d".into(),
                meta: None,
            });
        }
        b.finish()
    }

    #[test]
    fn first_occurrence_in_run_order_survives() {
        let dir = tempfile::tempdir().unwrap();
        let dd = ExactDedup { normalize: true };
        let shards = [
            vec![
                ("a", "Hello  world"),
                ("b", "other text"),
                ("c", "hello world"),
            ],
            vec![("d", "HELLO WORLD"), ("e", "新闻 一"), ("f", "新闻　一")],
        ];
        for (s, docs) in shards.iter().enumerate() {
            let mut o = dd.observer(s, dir.path()).unwrap();
            o.observe(&batch(&docs[..1]), 0).unwrap();
            o.observe(&batch(&docs[1..]), 1).unwrap();
            o.finish().unwrap();
        }
        dd.resolve(dir.path(), 2, 1).unwrap();
        let mut kept = vec![];
        let mut details = vec![];
        for (s, docs) in shards.iter().enumerate() {
            let a = dd.applier(s, dir.path()).unwrap();
            let mut ctx = StageContext::new(s);
            let out = a.process(batch(docs), &mut ctx).unwrap();
            for (i, (id, _)) in docs.iter().enumerate() {
                if out.keep.value(i) {
                    kept.push(*id);
                } else {
                    details.push(out.detail.value(i).to_string());
                }
            }
        }
        assert_eq!(kept, vec!["a", "b", "e"]);
        assert_eq!(
            details,
            vec!["duplicate of a", "duplicate of a", "duplicate of e"]
        );
    }
}

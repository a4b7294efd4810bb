//! The shared test harness of every crate: build a document batch from texts, and run a
//! barrier over shards the way the executor does (observe each shard's batches, resolve every
//! piece, resolve, apply each batch in order), without a config or an output dir; check every
//! stage type a crate registers.

use std::path::Path;

use arrow::array::RecordBatch;

use crate::document::{DocBatchBuilder, Document};
use crate::error::StageError;
use crate::stage::{Barrier, StageContext, StageEnv, StageOutput, StageRegistry};

/// A document with source `s` and meta null.
pub fn doc(id: &str, text: &str, domain: &str) -> Document {
    Document {
        id: id.to_string(),
        text: text.to_string(),
        source: "s".into(),
        domain: domain.to_string(),
        meta: None,
    }
}

/// A batch of `(id, text, domain)` documents.
pub fn batch_of_docs<'a>(
    docs: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> RecordBatch {
    let mut b = DocBatchBuilder::new();
    for (id, text, domain) in docs {
        b.push(&doc(id, text, domain));
    }
    b.finish()
}

/// A batch of texts with ids `0`, `1`, ... and domain `d`.
pub fn batch_of(texts: &[&str]) -> RecordBatch {
    let ids: Vec<String> = (0..texts.len()).map(|i| i.to_string()).collect();
    batch_of_docs(ids.iter().zip(texts).map(|(i, t)| (i.as_str(), *t, "d")))
}

/// A batch of documents with these `meta` values (text `t`, ids `0`, `1`, ...).
pub fn batch_with_meta(metas: &[Option<&str>]) -> RecordBatch {
    let mut b = DocBatchBuilder::new();
    for (i, m) in metas.iter().enumerate() {
        let mut d = doc(&i.to_string(), "t", "d");
        d.meta = m.map(str::to_string);
        b.push(&d);
    }
    b.finish()
}

/// A batch of `(id, text)` pairs with domain `d`.
pub fn batch_with_ids(docs: &[(&str, &str)]) -> RecordBatch {
    batch_of_docs(docs.iter().map(|(i, t)| (*i, *t, "d")))
}

/// One document's outcome through a row stage: `Ok(text)` kept (maybe rewritten), or
/// `Err((reason, detail))` dropped.
pub fn judge_one<R: crate::RowStage>(stage: R, text: &str) -> Result<String, (String, String)> {
    use crate::stage::Stage;
    let adapter = crate::RowAdapter::new(stage);
    let out = adapter
        .process(batch_of(&[text]), &mut StageContext::new(0))
        .expect("the stage runs");
    if out.keep.value(0) {
        let t = crate::document::str_column(&out.batch, crate::document::TEXT).unwrap();
        return Ok(t.value(0).to_string());
    }
    Err((out.reason.value(0).into(), out.detail.value(0).into()))
}

/// Runs `barrier` over shards of batches under `dir`, with `workers` as the resolve's
/// parallelism; returns each shard's applied outputs, batch by batch.
pub fn run_barrier(
    barrier: &dyn Barrier,
    dir: &Path,
    shards: &[Vec<RecordBatch>],
    workers: usize,
) -> Result<Vec<Vec<StageOutput>>, StageError> {
    for (s, batches) in shards.iter().enumerate() {
        let mut o = barrier.observer(s, dir)?;
        let mut offset = 0;
        for b in batches {
            o.observe(b, offset)?;
            offset += b.num_rows() as u64;
        }
        o.finish()?;
    }
    for part in 0..barrier.resolve_parts() {
        barrier.resolve_part(dir, shards.len(), part, workers)?;
    }
    barrier.resolve(dir, shards.len(), workers)?;
    let mut out = Vec::with_capacity(shards.len());
    for (s, batches) in shards.iter().enumerate() {
        let applier = barrier.applier(s, dir)?;
        let mut ctx = StageContext::new(s);
        let mut applied = Vec::with_capacity(batches.len());
        for b in batches {
            applied.push(applier.process(b.clone(), &mut ctx)?);
            ctx.row_offset += b.num_rows() as u64;
        }
        out.push(applied);
    }
    Ok(out)
}

/// Every stage type of `registry` describes itself, builds from its defaults and answers to
/// its type name; the types in `need_keys` have a required key instead and must say so.
/// Returns how many types were checked.
pub fn check_stage_types(registry: &StageRegistry, need_keys: &[&str]) -> usize {
    let env = StageEnv::new(std::env::temp_dir());
    let mut n = 0;
    for info in registry.infos() {
        assert!(
            !info.summary.is_empty() && !info.outputs.is_empty(),
            "{}",
            info.type_name
        );
        match (info.factory)(Default::default(), &env) {
            Ok(stage) => assert_eq!(stage.name(), info.type_name),
            Err(e) => assert!(
                need_keys.contains(&info.type_name) && e.contains("missing field"),
                "{}: {e}",
                info.type_name
            ),
        }
        n += 1;
    }
    n
}

//! Times the `minhash_dedup` barrier alone (all disk phases: observe → sorted band
//! partitions → pairs → components → clusters → apply) on texts already in memory, as the
//! Python peers are timed. Input: JSONL with `id` and `text`. Prints one JSON line with the
//! seconds and the ids removed. Used by benches/dedup_bench.py.
//!
//! cargo run --release -p sluice-dedup --example minhash_bench -- DOCS.jsonl \
//!     [--verify none|signature|exact] [--shingle word|char] [--shards N] [--workers N]

use std::io::BufRead;
use std::time::Instant;

use dedup::shingle::ShingleKind;
use dedup::{MinHashConfig, MinHashDedup, Verify};
use pipeline::document::{DocBatchBuilder, Document};
use pipeline::{Barrier, StageContext};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let opt = |k: &str, d: &str| -> String {
        args.iter()
            .position(|a| a == k)
            .map(|i| args[i + 1].clone())
            .unwrap_or_else(|| d.to_string())
    };
    let verify = match opt("--verify", "exact").as_str() {
        "none" => Verify::None,
        "signature" => Verify::Signature,
        _ => Verify::Exact,
    };
    let shingle = match opt("--shingle", "word").as_str() {
        "char" => ShingleKind::Char,
        _ => ShingleKind::Word,
    };
    let shards: usize = opt("--shards", "2").parse().unwrap();
    let workers: usize = opt("--workers", "2").parse().unwrap();
    let docs: Vec<Document> = std::io::BufReader::new(std::fs::File::open(path).unwrap())
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            Document {
                id: v["id"].as_str().unwrap().to_string(),
                text: v["text"].as_str().unwrap().to_string(),
                source: "bench".into(),
                domain: "d".into(),
                meta: None,
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .unwrap();
    let t0 = Instant::now();
    let cfg = MinHashConfig {
        verify,
        shingle,
        num_perm: opt("--num-perm", "112").parse().unwrap(),
        bands: Some(opt("--bands", "14").parse().unwrap()),
        rows: Some(opt("--rows", "8").parse().unwrap()),
        ..Default::default()
    };
    let dd = MinHashDedup::new(cfg).unwrap();
    let per = docs.len().div_ceil(shards);
    let chunks: Vec<&[Document]> = docs.chunks(per).collect();
    let batches: Vec<Vec<arrow::array::RecordBatch>> = chunks
        .iter()
        .map(|c| {
            c.chunks(1000)
                .map(|b| {
                    let mut bb = DocBatchBuilder::new();
                    for d in b {
                        bb.push(d);
                    }
                    bb.finish()
                })
                .collect()
        })
        .collect();
    let t_batches = t0.elapsed().as_secs_f64();
    use rayon::prelude::*;
    pool.install(|| {
        batches.par_iter().enumerate().for_each(|(s, bs)| {
            let mut o = dd.observer(s, dir.path()).unwrap();
            let mut off = 0u64;
            for b in bs {
                o.observe(b, off).unwrap();
                off += b.num_rows() as u64;
            }
            o.finish().unwrap();
        })
    });
    let t_observe = t0.elapsed().as_secs_f64();
    dd.resolve(dir.path(), batches.len(), workers).unwrap();
    let t_resolve = t0.elapsed().as_secs_f64();
    let removed: Vec<String> = pool.install(|| {
        batches
            .par_iter()
            .enumerate()
            .flat_map_iter(|(s, bs)| {
                let a = dd.applier(s, dir.path()).unwrap();
                let mut ctx = StageContext::new(s);
                let mut out = vec![];
                for b in bs {
                    let r = a.process(b.clone(), &mut ctx).unwrap();
                    ctx.row_offset += b.num_rows() as u64;
                    let ids = pipeline::document::str_column(&r.batch, "id").unwrap();
                    for i in 0..b.num_rows() {
                        if !r.keep.value(i) {
                            out.push(ids.value(i).to_string());
                        }
                    }
                }
                out
            })
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"seconds": secs, "batch_seconds": t_batches, "observe_seconds": t_observe, "resolve_seconds": t_resolve, "removed": removed, "params": dd.params().describe()})
    );
}

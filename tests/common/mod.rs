//! Shared fixtures of the end-to-end tests: real text from the bundled corpora, written into
//! the shapes (and breakages) the readers must handle.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn sluice() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.env("RUST_LOG", "warn")
        .env_remove("SLUICE_TEST_SHARD_DELAY_MS");
    c
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = sluice().args(args).output().expect("sluice starts");
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Runs sluice with `args`, which must fail; returns its stderr.
pub fn run_err(args: &[&str]) -> String {
    let out = sluice().args(args).output().expect("sluice starts");
    assert!(
        !out.status.success(),
        "sluice {args:?} succeeded; it should fail"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sluice run CFG --workers W --out OUT`, which must succeed; returns its stdout.
pub fn run_into(cfg: &Path, workers: &str, out: &Path) -> String {
    let o = run_ok(&[
        "run",
        cfg.to_str().unwrap(),
        "--workers",
        workers,
        "--out",
        out.to_str().unwrap(),
    ]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn bundled(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/data/default")
        .join(rel)
}

/// A file of a registry package that scripts/setup.sh unpacks into the cache (`pkgs/REL`).
pub fn setup_package(rel: &str) -> PathBuf {
    let p = store::cache_dir().join("pkgs").join(rel);
    assert!(p.exists(), "{} missing: run scripts/setup.sh", p.display());
    p
}

/// A byte-level BPE of `vocab` tokens trained on the bundled fortunes, written to `out`.
pub fn train_tokenizer(out: &Path, vocab: &str) {
    run_ok(&[
        "tokenizer",
        "train",
        "--input",
        bundled("fortunes.jsonl.gz").to_str().unwrap(),
        "--vocab-size",
        vocab,
        "--out",
        out.to_str().unwrap(),
    ]);
}

/// Real English documents: the bundled fortunes as (id, text, domain).
pub fn fortunes() -> Vec<(String, String, String)> {
    let f = std::fs::File::open(bundled("fortunes.jsonl.gz")).unwrap();
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
                v["domain"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn json_line(id: &str, text: &str, domain: &str) -> String {
    serde_json::json!({"id": id, "text": text, "domain": domain}).to_string()
}

pub fn write_gz(path: &Path, lines: &[Vec<u8>]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for l in lines {
        enc.write_all(l).unwrap();
        enc.write_all(b"\n").unwrap();
    }
    let bytes = enc.finish().unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Every file under `dir` (relative path → bytes), for byte-for-byte comparisons.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = Default::default();
    walk(dir, dir, &mut out);
    out
}

/// The output a run must reproduce exactly: curated and rejected documents.
pub fn data_outputs(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut t = tree(&out.join("curated"));
    for (k, v) in tree(&out.join("rejected")) {
        t.insert(format!("rejected/{k}"), v);
    }
    t
}

pub fn stats(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("stats.json")).unwrap()).unwrap()
}

/// stats.json without the timings, which differ run to run.
pub fn stats_without_seconds(out: &Path) -> serde_json::Value {
    let mut s = stats(out);
    for st in s["stages"].as_array_mut().unwrap() {
        st.as_object_mut().unwrap().remove("seconds");
    }
    s
}

/// Finished shards of `phase` (committed `done-*` markers) in a run's output dir.
pub fn done_markers(out: &Path, phase: usize) -> usize {
    std::fs::read_dir(out.join(format!("work/phase-{phase}")))
        .map(|rd| {
            rd.filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.starts_with("done-") && !name.ends_with(".tmp")
            })
            .count()
        })
        .unwrap_or(0)
}

/// Polls `cond` every 5 ms; fails the test after 60 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every row group of the Parquet files in `dir`, files in name order.
pub fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .flat_map(|p| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(p).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// String column `name` of a batch.
pub fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap()
}

/// The distinct codecs of a Parquet file's column chunks (`"UNCOMPRESSED"`, `"LZ4_RAW"`, …).
pub fn parquet_codecs(path: &Path) -> std::collections::BTreeSet<String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let meta = reader.metadata();
    meta.row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .map(|c| format!("{:?}", c.compression()))
        .collect()
}

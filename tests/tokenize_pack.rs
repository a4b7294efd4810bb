//! End to end: `sluice tokenizer train`, then a pipeline whose `[tokenize]` packs the curated
//! documents into Arrow IPC shards; the rows decode back to the documents token for token
//! (English and Chinese), the shards are identical whatever the worker count, and pyarrow
//! reads them consistently with the manifest.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;
use arrow::array::{Array, FixedSizeListArray, ListArray, StringArray, UInt32Array};
use arrow::ipc::reader::FileReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn setup(root: &Path) {
    std::fs::create_dir_all(root.join("raw")).unwrap();
    std::fs::copy(
        bundled("fortunes.jsonl.gz"),
        root.join("raw/fortunes.jsonl.gz"),
    )
    .unwrap();
    std::fs::copy(bundled("tang-poems.parquet"), root.join("raw/tang.parquet")).unwrap();
    let out = run_ok(&[
        "tokenizer",
        "train",
        "--input",
        root.join("raw/fortunes.jsonl.gz").to_str().unwrap(),
        bundled("tang-poems.parquet").to_str().unwrap(),
        "--vocab-size",
        "3000",
        "--out",
        root.join("tokenizer.json").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("trained byte-level BPE"));
    std::fs::write(
        root.join("pipeline.toml"),
        r#"
[[input]]
paths = ["raw/fortunes.jsonl.gz"]
[[input]]
paths = ["raw/tang.parquet"]
default_domain = "poetry-zh"
[output]
dir = "out"
[[stages]]
type = "length"
min_chars = 10
[tokenize]
tokenizer = "tokenizer.json"
eos_token = "<|endoftext|>"
pad_token = "<|pad|>"
seq_len = 63
shard_tokens = 20000
"#,
    )
    .unwrap();
}

/// Per domain: the valid tokens of all rows in order, and the doc start offsets.
fn read_shards(out: &Path) -> BTreeMap<String, (Vec<u32>, Vec<usize>)> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let row_len = manifest["row_len"].as_u64().unwrap() as usize;
    let mut res = BTreeMap::new();
    for (domain, d) in manifest["domains"].as_object().unwrap() {
        let (mut stream, mut starts) = (vec![], vec![]);
        let (mut rows, mut tokens) = (0u64, 0u64);
        for shard in d["shards"].as_array().unwrap() {
            let f = std::fs::File::open(out.join(shard["path"].as_str().unwrap())).unwrap();
            for b in FileReader::try_new(f, None).unwrap() {
                let b = b.unwrap();
                let ids: &FixedSizeListArray = b
                    .column_by_name("input_ids")
                    .unwrap()
                    .as_any()
                    .downcast_ref()
                    .unwrap();
                assert_eq!(ids.value_length() as usize, row_len);
                let valid: &UInt32Array = b
                    .column_by_name("valid_len")
                    .unwrap()
                    .as_any()
                    .downcast_ref()
                    .unwrap();
                let ds: &ListArray = b
                    .column_by_name("doc_starts")
                    .unwrap()
                    .as_any()
                    .downcast_ref()
                    .unwrap();
                let dom: &StringArray = b
                    .column_by_name("domain")
                    .unwrap()
                    .as_any()
                    .downcast_ref()
                    .unwrap();
                for r in 0..b.num_rows() {
                    assert_eq!(dom.value(r), domain);
                    let row = ids.value(r);
                    let row: &UInt32Array = row.as_any().downcast_ref().unwrap();
                    let s = ds.value(r);
                    let s: &UInt32Array = s.as_any().downcast_ref().unwrap();
                    starts.extend(s.values().iter().map(|x| stream.len() + *x as usize));
                    stream.extend_from_slice(&row.values()[..valid.value(r) as usize]);
                    rows += 1;
                    tokens += valid.value(r) as u64;
                }
            }
        }
        assert_eq!(rows, d["rows"].as_u64().unwrap());
        assert_eq!(tokens, d["tokens"].as_u64().unwrap());
        res.insert(domain.clone(), (stream, starts));
    }
    res
}

#[test]
fn packed_rows_round_trip_to_the_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    setup(root);
    let out = run_ok(&[
        "run",
        root.join("pipeline.toml").to_str().unwrap(),
        "--workers",
        "2",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("manifest"));
    let outdir = root.join("out");
    let tok = tokenize::Tok::load(
        &root.join("tokenizer.json"),
        "<|endoftext|>",
        Some("<|pad|>"),
    )
    .unwrap();

    // The curated documents per domain, in curated order.
    let mut docs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(outdir.join("curated"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        for b in ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
            .unwrap()
            .build()
            .unwrap()
        {
            let b = b.unwrap();
            let t: &StringArray = b
                .column_by_name("text")
                .unwrap()
                .as_any()
                .downcast_ref()
                .unwrap();
            let d: &StringArray = b
                .column_by_name("domain")
                .unwrap()
                .as_any()
                .downcast_ref()
                .unwrap();
            for i in 0..b.num_rows() {
                docs.entry(d.value(i).to_string())
                    .or_default()
                    .push(t.value(i).to_string());
            }
        }
    }
    let shards = read_shards(&outdir);
    assert_eq!(
        shards.keys().collect::<Vec<_>>(),
        docs.keys().collect::<Vec<_>>()
    );
    for (domain, texts) in &docs {
        let (stream, starts) = &shards[domain];
        let mut expected = vec![];
        let mut expected_starts = vec![];
        for t in texts {
            expected_starts.push(expected.len());
            expected.extend(tok.encode(t).unwrap());
            expected.push(tok.eos_id);
        }
        assert_eq!(stream, &expected, "{domain}: token stream");
        assert_eq!(starts, &expected_starts, "{domain}: document starts");
        // Decoding each document's tokens gives its text back (byte-level BPE is lossless).
        for (k, t) in texts.iter().enumerate().step_by(97) {
            let end = starts.get(k + 1).copied().unwrap_or(stream.len()) - 1;
            assert_eq!(
                &tok.decode(&stream[starts[k]..end]).unwrap(),
                t,
                "{domain} doc {k}"
            );
        }
    }
    assert!(docs.contains_key("poetry-zh") && docs.contains_key("computers"));
    // The manifest is what inspect reports.
    let inspect = run_ok(&["inspect", outdir.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("poetry-zh"));

    // Same bytes with 1 worker.
    let one = root.join("one");
    run_ok(&[
        "run",
        root.join("pipeline.toml").to_str().unwrap(),
        "--workers",
        "1",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert_eq!(tree(&one.join("shards")), tree(&outdir.join("shards")));
    assert_eq!(
        std::fs::read(one.join("manifest.json")).unwrap(),
        std::fs::read(outdir.join("manifest.json")).unwrap()
    );

    // pyarrow opens a shard, and the manifest's counts match what it reads.
    let script = r#"
import json, sys, pyarrow as pa, pyarrow.ipc as ipc
out = sys.argv[1]
m = json.load(open(out + "/manifest.json"))
for name, d in m["domains"].items():
    rows = tokens = 0
    for s in d["shards"]:
        t = ipc.open_file(out + "/" + s["path"]).read_all()
        assert t.schema.field("input_ids").type == pa.list_(pa.field("item", pa.uint32(), nullable=False), m["row_len"]), t.schema
        assert set(t.column("domain").to_pylist()) == {name}
        assert t.num_rows == s["rows"]
        rows += t.num_rows
        tokens += sum(t.column("valid_len").to_pylist())
    assert rows == d["rows"] and tokens == d["tokens"], (name, rows, tokens, d)
print("pyarrow shards ok")
"#;
    let res = std::process::Command::new("python3")
        .args(["-c", script, outdir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Each shard encodes its curated documents where it runs (its token part); rank 0 only packs.
/// A finish step that finds no part (here: a rerun after the run's parts were swept, and a
/// damaged part) encodes those files itself: the same shards and manifest either way.
#[test]
fn shards_encoded_where_curated_equal_shards_encoded_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    setup(root);
    let cfg = root.join("pipeline.toml");
    let outdir = root.join("out");
    let run = || {
        let o = sluice()
            .args(["run", cfg.to_str().unwrap(), "--workers", "2"])
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{log}");
        log
    };
    let log = run();
    let files = std::fs::read_dir(outdir.join("curated")).unwrap().count();
    assert!(files >= 2, "{files} curated files");
    assert!(
        log.contains(&format!(
            "packed {files} curated files from the tokens their shards encoded, encoded 0 here"
        )),
        "{log}"
    );
    assert!(!outdir.join("work/finish").exists(), "parts are swept");
    let shards = tree(&outdir.join("shards"));
    let manifest = std::fs::read(outdir.join("manifest.json")).unwrap();

    std::fs::remove_file(outdir.join("work/complete.json")).unwrap();
    std::fs::create_dir_all(outdir.join("work/finish")).unwrap();
    std::fs::write(outdir.join("work/finish/part-00000"), b"SLTOKP1\n damaged").unwrap();
    let log = run();
    assert!(
        log.contains(&format!(
            "packed 0 curated files from the tokens their shards encoded, encoded {files} here"
        )),
        "{log}"
    );
    assert_eq!(tree(&outdir.join("shards")), shards);
    assert_eq!(
        std::fs::read(outdir.join("manifest.json")).unwrap(),
        manifest
    );
}

#[test]
fn bad_tokenize_settings_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    setup(root);
    let cfg = root.join("pipeline.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("eos_token = \"<|endoftext|>\"", "eos_token = \"</s>\""),
    )
    .unwrap();
    assert!(run_err(&["run", cfg.to_str().unwrap()]).contains("has no token '</s>'"));
    assert!(!root.join("out").exists());
    std::fs::write(
        &cfg,
        text.replace("seq_len = 63", "seq_len = 63\nseq_lenn = 1"),
    )
    .unwrap();
    let out = sluice()
        .args(["run", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("seq_lenn"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn absurd_seq_len_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    setup(root);
    let cfg = root.join("pipeline.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("seq_len = 63", "seq_len = 100000000000")).unwrap();
    let err = run_err(&["run", cfg.to_str().unwrap()]);
    assert!(err.contains("seq_len = 100000000000"), "{err}");
    assert!(!root.join("out").exists(), "refused before curating");
}

/// Domain labels that sanitise to the same directory name get shards of their own.
#[test]
fn domains_with_alike_directory_names_do_not_share_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    setup(root);
    let lines: Vec<String> = (0..40)
        .map(|i| {
            let domain = if i % 2 == 0 { "news/en" } else { "news_en" };
            json_line(
                &format!("d{i}"),
                &format!("Story {i} of {domain}: the harbour opened a new quay today."),
                domain,
            )
        })
        .collect();
    std::fs::write(root.join("raw/news.jsonl"), lines.join("\n")).unwrap();
    let cfg = std::fs::read_to_string(root.join("pipeline.toml"))
        .unwrap()
        .replace("raw/fortunes.jsonl.gz", "raw/news.jsonl")
        .replace("paths = [\"raw/tang.parquet\"]\n", "paths = []\n");
    let cfg = cfg.replace(
        "[[input]]\npaths = []\ndefault_domain = \"poetry-zh\"\n",
        "",
    );
    std::fs::write(root.join("news.toml"), cfg).unwrap();
    run_ok(&["run", root.join("news.toml").to_str().unwrap()]);
    // read_shards checks every row's domain and the manifest's counts per domain.
    let shards = read_shards(&root.join("out"));
    assert_eq!(shards.len(), 2);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("out/manifest.json")).unwrap()).unwrap();
    let dirs: Vec<&str> = ["news/en", "news_en"]
        .iter()
        .map(|d| m["domains"][d]["shards"][0]["path"].as_str().unwrap())
        .collect();
    assert_ne!(dirs[0], dirs[1]);
}

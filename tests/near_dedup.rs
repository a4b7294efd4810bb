//! `minhash_dedup` end to end through the CLI: edited copies of real documents spread over
//! shards are removed with the survivor named; the output is byte-identical with 1 and 4
//! workers and after a SIGKILL in either phase followed by a rerun.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::*;

fn fixture(root: &Path) -> PathBuf {
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let docs = fortunes();
    // Documents of 5 fortunes each; every 7th is an edited copy of one from an earlier shard.
    let base = |k: usize| -> String {
        (0..5)
            .map(|j| docs[(k * 5 + j) % docs.len()].1.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    for shard in 0..12 {
        let lines: Vec<Vec<u8>> = (0..60)
            .map(|i| {
                let k = shard * 60 + i;
                let text = if i % 7 == 3 && shard > 0 {
                    let mut words: Vec<String> =
                        base(k - 59).split_whitespace().map(String::from).collect();
                    let n = words.len();
                    words[n / 2] = "EDITED".into();
                    words.join(" ")
                } else {
                    base(k)
                };
                json_line(&format!("d{shard}-{i}"), &text, "fortunes").into_bytes()
            })
            .collect();
        write_gz(&root.join(format!("raw/part-{shard:02}.jsonl.gz")), &lines);
    }
    let cfg = root.join("pipeline.toml");
    std::fs::write(
        &cfg,
        r#"
[[input]]
paths = ["raw/*.jsonl.gz"]
[output]
dir = "out"
[run]
batch_size = 25
[[stages]]
type = "minhash_dedup"
threshold = 0.8
partitions = 8
[[stages]]
type = "length"
min_chars = 10
"#,
    )
    .unwrap();
    cfg
}

#[test]
fn workers_and_sigkill_do_not_change_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture(tmp.path());
    let one = tmp.path().join("one");
    run_into(&cfg, "1", &one);
    let s = stats(&one);
    let rejects = s["stages"][1]["rejects"]["minhash_dedup.near_duplicate"]
        .as_u64()
        .unwrap_or(0);
    // 11 shards × 9 planted copies; one-word edits of the shortest ones fall below 0.8.
    assert!(rejects >= 95, "{s}");
    let four = tmp.path().join("four");
    run_into(&cfg, "4", &four);
    assert_eq!(data_outputs(&one), data_outputs(&four));

    // The survivor is named in rejected/ and the cluster columns are in curated/.
    let py = format!(
        "import pyarrow.parquet as pq, glob\n\
         r = pq.read_table(sorted(glob.glob('{0}/rejected/*.parquet'))[0]).to_pylist()\n\
         d = [x for x in r if x['reason'] == 'minhash_dedup.near_duplicate'][0]\n\
         assert d['detail'].startswith('near-duplicate of d'), d\n\
         c = pq.read_table('{0}/curated').to_pylist()\n\
         sizes = [x['dup_cluster_size'] for x in c]\n\
         assert max(sizes) >= 2 and min(sizes) == 1, sizes[:5]\n",
        one.display()
    );
    let p = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));

    for (phase, markers) in [(0usize, 3usize), (1, 3)] {
        let out = tmp.path().join(format!("killed-{phase}"));
        let mut child = sluice()
            .args(["run", cfg.to_str().unwrap(), "--workers", "2", "--out"])
            .arg(&out)
            .env("SLUICE_TEST_SHARD_DELAY_MS", "200")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("shards to finish", || done_markers(&out, phase) >= markers);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!out.join("work/complete.json").exists());
        let msg = run_into(&cfg, "3", &out);
        assert!(msg.contains("run complete"), "{msg}");
        assert_eq!(
            data_outputs(&out),
            data_outputs(&one),
            "kill in phase {phase}"
        );
    }
}

/// 300 input files give 1,500 side files to resolve; under `ulimit -n 256` the run still
/// completes (resolve keeps at most 128 of them open) and finds the planted duplicates.
#[test]
fn many_input_files_under_a_small_open_file_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let docs = fortunes();
    for f in 0..300 {
        // Each file: 2 documents; the second repeats the first of file f - 1 (edited).
        let own = &docs[f % docs.len()].1;
        let prev = &docs[(f + docs.len() - 1) % docs.len()].1;
        let lines = [
            json_line(&format!("f{f}-a"), own, "d"),
            json_line(&format!("f{f}-b"), &format!("{prev} EDITED"), "d"),
        ];
        std::fs::write(root.join(format!("raw/f{f:03}.jsonl")), lines.join("\n")).unwrap();
    }
    std::fs::write(
        root.join("pipeline.toml"),
        "[[input]]\npaths = [\"raw/*.jsonl\"]\n[output]\ndir = \"out\"\n\
         [[stages]]\ntype = \"length\"\nmin_chars = 200\n\
         [[stages]]\ntype = \"minhash_dedup\"\nthreshold = 0.7\nverify = \"exact\"\npartitions = 2\n",
    )
    .unwrap();
    let out = std::process::Command::new("prlimit")
        .args(["--nofile=256:256", "--"])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            root.join("pipeline.toml").to_str().unwrap(),
            "--workers",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = stats(&root.join("out"));
    let near = s["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "minhash_dedup")
        .unwrap()
        .clone();
    assert!(
        near["rejects"]["minhash_dedup.near_duplicate"]
            .as_u64()
            .unwrap()
            > 10,
        "{near}"
    );
}

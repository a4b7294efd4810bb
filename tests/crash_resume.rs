//! Crash safety: a run killed with SIGKILL and started again gives byte-identical output to
//! an uninterrupted run; a second concurrent run on the same output dir is refused; a
//! different config on a used output dir is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::*;

/// 16 shards of real text with exact duplicates across them, two phases (dedup barrier).
fn fixture(root: &Path) -> PathBuf {
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let docs = fortunes();
    for shard in 0..16 {
        let lines: Vec<Vec<u8>> = (0..250)
            .map(|i| {
                // Every 10th doc repeats one from an earlier shard (an exact duplicate).
                let k = if i % 10 == 0 {
                    (shard * 131 + i) % 1000
                } else {
                    shard * 250 + i
                };
                let (id, text, dom) = &docs[k % docs.len()];
                json_line(&format!("{id}#{shard}-{i}"), text, dom).into_bytes()
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
jsonl = true
[run]
batch_size = 100
[[stages]]
type = "length"
min_chars = 40
[[stages]]
type = "exact_dedup"
"#,
    )
    .unwrap();
    cfg
}

fn spawn_slow(cfg: &Path, out: &Path) -> Child {
    sluice()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--workers",
            "2",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("SLUICE_TEST_SHARD_DELAY_MS", "150")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn no_tmp_files(dir: &Path) -> bool {
    tree(dir).keys().all(|k| !k.ends_with(".tmp"))
}

#[test]
fn sigkill_then_rerun_gives_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture(tmp.path());
    let reference = tmp.path().join("reference");
    run_ok(&[
        "run",
        cfg.to_str().unwrap(),
        "--workers",
        "2",
        "--out",
        reference.to_str().unwrap(),
    ]);
    let s = stats(&reference);
    assert!(
        s["stages"][2]["rejects"]["exact_dedup.duplicate"]
            .as_u64()
            .unwrap()
            > 100,
        "{s}"
    );

    // Kill in the first phase, then in the second (after the barrier resolved).
    for (phase, markers) in [(0, 5), (1, 3)] {
        let out = tmp.path().join(format!("killed-{phase}"));
        let mut child = spawn_slow(&cfg, &out);
        wait_for("shards to finish", || done_markers(&out, phase) >= markers);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(
            !out.join("work/complete.json").exists(),
            "the run finished before the kill; the test proves nothing"
        );
        let done_before = done_markers(&out, phase);
        assert!(done_before < 16, "phase {phase} was already complete");

        let rerun = run_ok(&[
            "run",
            cfg.to_str().unwrap(),
            "--workers",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        let msg = String::from_utf8_lossy(&rerun.stdout);
        assert!(msg.contains("run complete"), "{msg}");
        assert_eq!(
            data_outputs(&out),
            data_outputs(&reference),
            "phase {phase} kill"
        );
        assert_eq!(
            stats_without_seconds(&out),
            stats_without_seconds(&reference)
        );
        assert!(no_tmp_files(&out), "temporary files left behind");
        // Finished shards were skipped, not redone.
        let resumed = msg
            .split('(')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap();
        assert!(resumed.parse::<usize>().unwrap() < 32, "{msg}");

        // A third run finds the work complete and changes nothing.
        let before = data_outputs(&out);
        let again = run_ok(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(String::from_utf8_lossy(&again.stdout).contains("already complete"));
        assert_eq!(data_outputs(&out), before);
    }
}

#[test]
fn a_second_concurrent_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture(tmp.path());
    let out = tmp.path().join("out");
    let mut first = spawn_slow(&cfg, &out);
    wait_for("the first run to take the lock", || {
        std::fs::read_to_string(out.join(".sluice.lock")).is_ok_and(|s| s.starts_with("pid"))
    });
    let second = sluice()
        .args(["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        still_running,
        "the first run ended before the second started"
    );
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another sluice run"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");

    // Once the holder is gone (killed), the lock is free again and the run resumes.
    run_ok(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(out.join("work/complete.json").exists());
}

#[test]
fn a_different_config_on_a_used_output_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture(tmp.path());
    run_ok(&["run", cfg.to_str().unwrap()]);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("min_chars = 40", "min_chars = 41");
    std::fs::write(&cfg, text).unwrap();
    let out = sluice()
        .args(["run", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("different config"), "{err}");

    // A non-empty directory that is no sluice run is refused too.
    let stray = tmp.path().join("stray");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("notes.txt"), "mine").unwrap();
    let out = sluice()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--out",
            stray.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no sluice run"));
}

/// An edit that keeps a file's size (an input, or a word list a stage reads) is a different
/// run: resuming on the old output would mix stale and new results.
#[test]
fn a_same_size_edit_of_an_input_or_a_word_list_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture(tmp.path());
    std::fs::write(tmp.path().join("words.txt"), "grapefruit\n").unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap()
        + "[[stages]]\ntype = \"sensitive_words\"\nfiles = [\"words.txt\"]\n";
    std::fs::write(&cfg, text).unwrap();
    let rerun = |out: &str| {
        sluice()
            .args(["run", cfg.to_str().unwrap(), "--out", out])
            .output()
            .unwrap()
    };
    let out1 = tmp.path().join("out1");
    let out2 = tmp.path().join("out2");
    assert!(rerun(out1.to_str().unwrap()).status.success());
    let again = rerun(out1.to_str().unwrap());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already complete"));

    std::fs::write(tmp.path().join("words.txt"), "watermelon\n").unwrap();
    let r = rerun(out1.to_str().unwrap());
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("different config or different input"));

    assert!(rerun(out2.to_str().unwrap()).status.success());
    let input = tmp.path().join("raw/part-03.jsonl.gz");
    let mut bytes = std::fs::read(&input).unwrap();
    let last = bytes.len() - 9; // inside the deflate stream, before the gzip trailer
    bytes[last] ^= 0x01;
    std::fs::write(&input, &bytes).unwrap();
    let r = rerun(out2.to_str().unwrap());
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("different config or different input"));
}

/// Every file a run puts in place under OUT (parts, markers, barrier files, run.json,
/// stats.json) is fsync'd before its rename and its directory after it, so a power loss
/// cannot leave a zero-length marker that looks complete. Checked on the system calls
/// (strace, from Debian; scripts/setup.sh installs it).
#[test]
fn every_output_is_synced_before_and_after_its_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fixture(tmp.path());
    let trace = tmp.path().join("trace.txt");
    let out = std::process::Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", cfg.to_str().unwrap(), "--workers", "2"])
        .output()
        .expect("strace is installed by scripts/setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outdir = tmp.path().join("out");
    let text = std::fs::read_to_string(&trace).unwrap();
    // (line, fsync'd path) and (line, from, to), in the order the calls were made.
    let mut synced: Vec<(usize, String)> = vec![];
    let mut renames: Vec<(usize, String, String)> = vec![];
    for (n, line) in text.lines().enumerate() {
        for call in ["fsync(", "fdatasync("] {
            if let Some(i) = line.find(call) {
                let rest = &line[i + call.len()..];
                if let (Some(a), Some(b)) = (rest.find('<'), rest.find('>')) {
                    synced.push((n, rest[a + 1..b].to_string()));
                }
            }
        }
        if line.contains("rename") && line.trim_end().ends_with("= 0") {
            let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
            if let [from, to] = quoted[..] {
                renames.push((n, from.to_string(), to.to_string()));
            }
        }
    }
    let ours: Vec<_> = renames
        .iter()
        .filter(|(_, _, to)| to.starts_with(outdir.to_str().unwrap()))
        .collect();
    assert!(ours.len() > 40, "{} renames under OUT", ours.len());
    for (n, from, to) in ours {
        let parent = std::path::Path::new(to).parent().unwrap().to_str().unwrap();
        assert!(
            synced.iter().any(|(m, p)| m < n && p == from),
            "{from} renamed to {to} without an fsync of its data first"
        );
        assert!(
            synced.iter().any(|(m, p)| m > n && p == parent),
            "{to}: its directory {parent} was not fsync'd after the rename"
        );
    }
}

//! Curation that accumulates: nightly runs deduplicated against a persistent index
//! (`index = PATH` on exact_dedup and minhash_dedup) keep exactly what one run over every
//! night at once keeps; a rerun of a night adds nothing; a SIGKILL during the append, then a
//! rerun, leaves the index and the outputs as an uninterrupted night does; compaction keeps
//! the answers; mismatched settings, a missing segment and a held lock are refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::*;

const NIGHTS: usize = 5;

/// Nights of real text (three fortunes a document), each night with exact and one-word-
/// edited copies of documents from earlier nights and from itself. Files are named so that
/// sorted order is night order.
fn write_nights(root: &Path) {
    let f = fortunes();
    let doc = |k: usize| -> String {
        (0..3)
            .map(|j| f[(k * 3 + j) % f.len()].1.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let edit = |t: &str| {
        let mut w: Vec<&str> = t.split(' ').collect();
        let n = w.len();
        w[n / 2] = "CHANGED";
        w.join(" ")
    };
    std::fs::create_dir_all(root.join("raw")).unwrap();
    for night in 0..NIGHTS {
        for part in 0..2 {
            let mut lines = vec![];
            for i in 0..40 {
                let k = night * 80 + part * 40 + i;
                let text = match (night, i % 10) {
                    // Copies of earlier nights' originals (they are all unique).
                    (n, 1) if n > 0 => doc((i % n) * 80 + part * 40 + i + 2),
                    (n, 4) if n > 0 => edit(&doc((i % n) * 80 + part * 40 + i + 2)),
                    // Copies from this same night.
                    (_, 7) => doc(k - 5),
                    (_, 9) => edit(&doc(k - 7)),
                    _ => doc(k),
                };
                lines.push(json_line(&format!("n{night}-p{part}-{i}"), &text, "d"));
            }
            let p = root.join(format!("raw/n{night}-p{part}.jsonl"));
            std::fs::write(p, lines.join("\n") + "\n").unwrap();
        }
    }
}

/// The dedup stages, reading and extending `index_dir`'s two indexes when given.
fn stages(index_dir: Option<&str>) -> String {
    stages_verifying(index_dir, "exact")
}

fn stages_verifying(index_dir: Option<&str>, verify: &str) -> String {
    let (exact, near) = match index_dir {
        Some(d) => (
            format!("index = \"{d}/exact\"\n"),
            format!("index = \"{d}/near\"\n"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "[[stages]]\ntype = \"exact_dedup\"\npartitions = 4\n{exact}\
         [[stages]]\ntype = \"minhash_dedup\"\nthreshold = 0.7\npartitions = 4\n\
         verify = \"{verify}\"\n{near}"
    )
}

fn config(root: &Path, name: &str, inputs: &str, index_dir: Option<&str>) -> PathBuf {
    let cfg = root.join(name);
    std::fs::write(
        &cfg,
        format!(
            "[[input]]\npaths = [\"{inputs}\"]\n[output]\ndir = \"out\"\n{}",
            stages(index_dir)
        ),
    )
    .unwrap();
    cfg
}

fn night_config(root: &Path, night: usize) -> PathBuf {
    config(
        root,
        &format!("night{night}.toml"),
        &format!("raw/n{night}-*.jsonl"),
        Some("idx"),
    )
}

/// Kept ids of a run (curated/).
fn kept(out: &Path) -> BTreeSet<String> {
    read_parquet_dir(&out.join("curated"))
        .iter()
        .flat_map(|b| {
            let c = col(b, "id");
            (0..b.num_rows())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// (id, reason, detail) of a run's rejected rows.
fn rejected(out: &Path) -> Vec<(String, String, String)> {
    read_parquet_dir(&out.join("rejected"))
        .iter()
        .flat_map(|b| {
            let (id, reason, detail) = (col(b, "id"), col(b, "reason"), col(b, "detail"));
            (0..b.num_rows())
                .map(|i| {
                    (
                        id.value(i).to_string(),
                        reason.value(i).to_string(),
                        detail.value(i).to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every file of an index but its lock file (which holds the last holder's pid).
fn index_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(dir)
        .into_iter()
        .filter(|(k, _)| !k.ends_with(".sluice.lock"))
        .collect()
}

fn segments(dir: &Path) -> usize {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    m["segments"].as_array().unwrap().len()
}

#[test]
fn nightly_runs_keep_what_one_run_over_all_nights_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_nights(root);
    let mut union = BTreeSet::new();
    for night in 0..NIGHTS {
        let out = root.join(format!("out/night-{night}"));
        run_into(&night_config(root, night), "2", &out);
        union.extend(kept(&out));
        assert_eq!(segments(&root.join("idx/exact")), night + 1);
        assert_eq!(segments(&root.join("idx/near")), night + 1);
    }
    let all = root.join("all");
    run_into(&config(root, "all.toml", "raw/*.jsonl", None), "2", &all);
    let once = kept(&all);
    assert_eq!(
        union, once,
        "nightly survivors differ from one run over all nights"
    );

    // Night 3's drops of earlier nights' documents name the kept document, its file and run.
    let r = rejected(&root.join("out/night-3"));
    let indexed: Vec<_> = r
        .iter()
        .filter(|x| x.1.ends_with(".duplicate_of_indexed"))
        .collect();
    let reasons: BTreeSet<&str> = indexed.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        reasons,
        BTreeSet::from([
            "exact_dedup.duplicate_of_indexed",
            "minhash_dedup.duplicate_of_indexed"
        ]),
        "{r:?}"
    );
    assert!(indexed.len() >= 12, "{r:?}");
    let re = regex_lite(&indexed[0].2);
    assert!(re, "detail: {}", indexed[0].2);
    // Within a night the kept document is named with its file too.
    assert!(
        r.iter().any(|x| x.1 == "exact_dedup.duplicate"
            && x.2.starts_with("duplicate of n3-")
            && x.2.contains("n3-p")),
        "{r:?}"
    );

    // A rerun of night 2 into a new directory adds nothing and keeps the same documents.
    let before = index_files(&root.join("idx"));
    let again = root.join("out/night-2-again");
    run_into(&night_config(root, 2), "1", &again);
    assert_eq!(index_files(&root.join("idx")), before);
    assert_eq!(kept(&again), kept(&root.join("out/night-2")));

    // Compaction merges the segments; the answers stay (night 3 rerun against it).
    for idx in ["idx/exact", "idx/near"] {
        let p = root.join(idx);
        let o = run_ok(&["index", "compact", p.to_str().unwrap()]);
        assert!(String::from_utf8_lossy(&o.stdout).contains("5 segments -> 1"));
        assert_eq!(segments(&p), 1);
        assert_eq!(std::fs::read_dir(p.join("segments")).unwrap().count(), 1);
        run_ok(&["index", "verify", p.to_str().unwrap()]);
    }
    let info = run_ok(&["index", "info", root.join("idx/near").to_str().unwrap()]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("minhash_dedup index") && info.contains("night-4"),
        "{info}"
    );
    let rerun3 = root.join("out/night-3-compacted");
    run_into(&night_config(root, 3), "2", &rerun3);
    assert_eq!(kept(&rerun3), kept(&root.join("out/night-3")));
    assert_eq!(rejected(&rerun3).len(), r.len());
}

/// "duplicate of ID (raw/nK-pP.jsonl) of run night-K" or the near-duplicate form.
fn regex_lite(detail: &str) -> bool {
    let rest = detail
        .strip_prefix("duplicate of n")
        .or_else(|| detail.strip_prefix("near-duplicate of n"));
    rest.is_some_and(|r| r.contains(" (") && r.contains(".jsonl) of run night-"))
}

#[test]
fn a_sigkill_during_the_append_then_a_rerun_equals_an_uninterrupted_night() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_nights(root);
    for night in 0..NIGHTS - 1 {
        run_into(
            &night_config(root, night),
            "2",
            &root.join(format!("out/night-{night}")),
        );
    }
    let saved = index_files(&root.join("idx"));
    let last = NIGHTS - 1;
    let cfg = night_config(root, last);
    let out = root.join(format!("out/night-{last}"));
    run_into(&cfg, "2", &out);
    let (want_out, want_index) = (data_outputs(&out), index_files(&root.join("idx")));

    // Back to the index before the last night; run it again and kill it mid-append.
    std::fs::remove_dir_all(root.join("idx")).unwrap();
    for (rel, bytes) in &saved {
        let p = root.join("idx").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    std::fs::remove_dir_all(&out).unwrap();
    let mut child = sluice()
        .args(["run", cfg.to_str().unwrap(), "--workers", "2", "--out"])
        .arg(&out)
        .env("SLUICE_TEST_INDEX_APPEND_DELAY_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first index's segment is in place; its manifest is not rewritten yet.
    wait_for("the segment to be put in place", || {
        std::fs::read_dir(root.join("idx/exact/segments"))
            .map(|d| d.count() > NIGHTS - 1)
            .unwrap_or(false)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        segments(&root.join("idx/exact")),
        NIGHTS - 1,
        "a killed run adds nothing"
    );
    assert!(!out.join("work/complete.json").exists());
    let msg = run_into(&cfg, "1", &out);
    assert!(msg.contains("run complete"), "{msg}");
    assert_eq!(data_outputs(&out), want_out);
    assert_eq!(index_files(&root.join("idx")), want_index);
}

#[test]
fn mismatched_settings_a_missing_segment_and_a_held_lock_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_nights(root);
    run_into(&night_config(root, 0), "1", &root.join("out/night-0"));

    // A reference built with other MinHash settings: refused before any work, naming them.
    let cfg = root.join("other.toml");
    std::fs::write(
        &cfg,
        "[[input]]\npaths = [\"raw/n1-*.jsonl\"]\n[output]\ndir = \"out\"\n\
         [[stages]]\ntype = \"minhash_dedup\"\nnum_perm = 64\nreference = [\"idx/near\", \"idx/none\"]\n\
         [[stages]]\ntype = \"exact_dedup\"\nnormalize = false\nreference = [\"idx/exact\"]\n",
    )
    .unwrap();
    let out = root.join("out/other");
    let err = run_err(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(
        err.contains(
            "built with bands = 19, num_perm = 128, this stage has bands = 8, num_perm = 64;"
        ),
        "{err}"
    );
    assert!(err.contains("idx/none does not exist"), "{err}");
    assert!(
        err.contains("normalize = true, this stage has normalize = false"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "nothing is written before the settings are checked"
    );

    // A held lock refuses a run that would extend the index.
    let mut holder = std::process::Command::new("flock")
        .arg("--close")
        .arg(root.join("idx/near/.sluice.lock"))
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    wait_for("flock to hold the lock", || {
        std::process::Command::new("flock")
            .args(["-n"])
            .arg(root.join("idx/near/.sluice.lock"))
            .arg("true")
            .status()
            .is_ok_and(|s| !s.success())
    });
    let err = run_err(&[
        "run",
        night_config(root, 1).to_str().unwrap(),
        "--out",
        root.join("out/night-1").to_str().unwrap(),
    ]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(err.contains("is in use by another sluice run"), "{err}");
    assert!(err.contains("idx/near"), "{err}");

    // A segment gone from the index: the error names it.
    let seg = std::fs::read_dir(root.join("idx/exact/segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&seg).unwrap();
    let err = run_err(&[
        "run",
        night_config(root, 1).to_str().unwrap(),
        "--out",
        root.join("out/night-1b").to_str().unwrap(),
    ]);
    let name = seg.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&format!(
            "segment {name} is listed in index.json but missing"
        )),
        "{err}"
    );
}

/// An index in a bucket (moto on loopback) gives the same nights as a local one: the
/// segments are uploaded whole, the manifest replaced by a conditional put, the lock is a
/// lease object, and a fresh cache downloads and checks the segments it reads.
#[test]
fn an_index_in_a_bucket_gives_the_same_nights_as_a_local_one() {
    use store::testing::{shared_server, SECRET_KEY};
    let server = shared_server();
    server.create_bucket("nightly");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_nights(root);
    for night in 0..3 {
        let local = config(
            root,
            &format!("local{night}.toml"),
            &format!("raw/n{night}-*.jsonl"),
            Some("idx"),
        );
        run_into(&local, "2", &root.join(format!("local/night-{night}")));
        let remote = config(
            root,
            &format!("remote{night}.toml"),
            &format!("raw/n{night}-*.jsonl"),
            Some("s3://nightly/idx"),
        );
        let out = root.join(format!("remote/night-{night}"));
        let o = sluice()
            .args(["run", remote.to_str().unwrap(), "--workers", "2", "--out"])
            .arg(&out)
            .env("SLUICE_CACHE", root.join(format!("cache-{night}")))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(!err.contains(SECRET_KEY), "a credential in the log: {err}");
        let local_out = root.join(format!("local/night-{night}"));
        assert_eq!(kept(&out), kept(&local_out), "night {night}");
        let strip = |r: Vec<(String, String, String)>| -> Vec<(String, String)> {
            r.into_iter().map(|(id, reason, _)| (id, reason)).collect()
        };
        assert_eq!(strip(rejected(&out)), strip(rejected(&local_out)));
    }
    let info = run_ok(&["index", "info", "s3://nightly/idx/near"]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("total: 3 segments"), "{info}");
    run_ok(&["index", "verify", "s3://nightly/idx/exact"]);
    let o = run_ok(&["index", "compact", "s3://nightly/idx/exact"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 segments -> 1"));
    run_ok(&["index", "verify", "s3://nightly/idx/exact"]);
}

/// With signature verification (signatures in the index) and without verification (keys
/// only), nightly survivors still equal one run's.
#[test]
fn every_verify_mode_gives_one_runs_survivors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_nights(root);
    for verify in ["signature", "none"] {
        let mut union = BTreeSet::new();
        for night in 0..4 {
            let cfg = root.join(format!("{verify}-{night}.toml"));
            std::fs::write(
                &cfg,
                format!(
                    "[[input]]\npaths = [\"raw/n{night}-*.jsonl\"]\n[output]\ndir = \"out\"\n{}",
                    stages_verifying(Some(&format!("idx-{verify}")), verify)
                ),
            )
            .unwrap();
            let out = root.join(format!("{verify}/night-{night}"));
            run_into(&cfg, "2", &out);
            union.extend(kept(&out));
        }
        let cfg = root.join(format!("{verify}-all.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[[input]]\npaths = [\"raw/n[0123]-*.jsonl\"]\n[output]\ndir = \"out\"\n{}",
                stages_verifying(None, verify)
            ),
        )
        .unwrap();
        let all = root.join(format!("{verify}/all"));
        run_into(&cfg, "2", &all);
        assert_eq!(union, kept(&all), "verify = {verify}");
        let r = rejected(&root.join(format!("{verify}/night-3")));
        assert!(
            r.iter()
                .any(|x| x.1 == "minhash_dedup.duplicate_of_indexed"),
            "verify = {verify}: {r:?}"
        );
    }
}

//! Object storage end to end, against a real S3-compatible server (moto) on loopback: inputs
//! read from `s3://` (listing, globs, range reads of a cut file), outputs written to `s3://`
//! byte-identical to a local run for any worker count, a second run on the same URL refused,
//! SIGKILL then rerun (with and without the scratch dir) identical, and a server that answers
//! 10% of requests with 503 SlowDown and resets 2% of connections survived.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use store::testing::{shared_server, FaultProxy, S3Server, SECRET_KEY};
use store::ObjectUrl;

use crate::common::*;

fn url(bucket: &str, key: &str) -> ObjectUrl {
    ObjectUrl {
        bucket: bucket.into(),
        key: key.into(),
    }
}

/// Real text: 6 gzip shards and one plain JSONL file cut into byte ranges (`shard_mb = 1`),
/// with exact duplicates across them; uploaded to `s3://BUCKET/raw/`. Returns the local copy.
fn fixture(root: &Path, bucket: &str) -> PathBuf {
    let raw = root.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let docs = fortunes();
    let line = |k: usize, tag: &str| {
        let (id, text, dom) = &docs[k % docs.len()];
        json_line(&format!("{id}#{tag}"), text, dom).into_bytes()
    };
    for shard in 0..6 {
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                line(
                    if i % 10 == 0 { i } else { shard * 200 + i },
                    &format!("{shard}-{i}"),
                )
            })
            .collect();
        write_gz(&raw.join(format!("part-{shard:02}.jsonl.gz")), &lines);
    }
    let mut big = Vec::new();
    for i in 0..9000 {
        big.extend(line(i * 7, &format!("big-{i}")));
        big.push(b'\n');
    }
    std::fs::write(raw.join("big.jsonl"), &big).unwrap();
    shared_server().create_bucket(bucket);
    for e in std::fs::read_dir(&raw).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        url(bucket, &format!("raw/{name}")).put_file(&p).unwrap();
    }
    raw
}

fn config(root: &Path, name: &str, input: &str) -> PathBuf {
    let cfg = root.join(name);
    std::fs::write(
        &cfg,
        format!(
            r#"
[[input]]
paths = ["{input}"]
[output]
dir = "out"
jsonl = true
[run]
batch_size = 100
shard_mb = 1
[[stages]]
type = "length"
min_chars = 40
[[stages]]
type = "exact_dedup"
"#
        ),
    )
    .unwrap();
    cfg
}

/// Every object under `prefix` (relative key → bytes).
fn objects(prefix: &ObjectUrl) -> BTreeMap<String, Vec<u8>> {
    prefix
        .list()
        .unwrap()
        .into_iter()
        .map(|o| {
            let rel = o.url.relative_to(prefix).unwrap().to_string();
            (rel, o.url.get().unwrap().to_vec())
        })
        .collect()
}

/// What must be byte-identical between two runs: every file outside `work/` (whose markers
/// carry timings), stats.json without its timings. The bucket holds no lock once done.
fn comparable(mut t: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    t.remove(".sluice.lock");
    t.retain(|k, _| !k.starts_with("work/"));
    if let Some(s) = t.get_mut("stats.json") {
        let mut v: serde_json::Value = serde_json::from_slice(s).unwrap();
        for st in v["stages"].as_array_mut().unwrap() {
            st.as_object_mut().unwrap().remove("seconds");
        }
        *s = serde_json::to_vec(&v).unwrap();
    }
    t
}

/// The bucket's copy of a run holds the files a local run leaves: the same names, work files
/// included (none of the intermediates the run removed, no lock), the same bytes outside
/// `work/`.
fn assert_same_run(prefix: &ObjectUrl, reference: &Path, what: &str) {
    let remote = objects(prefix);
    let local = tree(reference);
    let local_names: Vec<&String> = local.keys().filter(|k| *k != ".sluice.lock").collect();
    assert_eq!(remote.keys().collect::<Vec<_>>(), local_names, "{what}");
    assert!(remote.contains_key("work/complete.json"), "{what}");
    assert_eq!(comparable(remote), comparable(local), "{what}");
}

fn run_s3(cfg: &Path, workers: &str, out: &str, cache: &Path) -> std::process::Output {
    let o = sluice()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--workers",
            workers,
            "--out",
            out,
        ])
        .env("SLUICE_CACHE", cache)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "sluice run --out {out} failed: {err}");
    assert!(!err.contains(SECRET_KEY), "a credential in the log: {err}");
    o
}

#[test]
fn s3_in_and_out_equal_a_local_run_for_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = fixture(tmp.path(), "e2e-io");
    let local_cfg = config(tmp.path(), "local.toml", &format!("{}/*", raw.display()));
    let s3_cfg = config(tmp.path(), "s3.toml", "s3://e2e-io/raw/**/*.jsonl*");
    let cache = tmp.path().join("cache");

    // S3 in, local out, one worker: the reference.
    let reference = tmp.path().join("reference");
    run_into(&s3_cfg, "1", &reference);
    let s = stats(&reference);
    assert!(
        s["shards"].as_u64().unwrap() > 7,
        "big.jsonl was not cut into ranges: {s}"
    );
    let dups = s["stages"][2]["rejects"]["exact_dedup.duplicate"]
        .as_u64()
        .unwrap();
    assert!(dups > 50, "{s}");

    // S3 in, S3 out, two workers: the same files, byte for byte.
    let o = run_s3(&s3_cfg, "2", "s3://e2e-io/runs/r1", &cache);
    assert!(String::from_utf8_lossy(&o.stdout).contains("output: s3://e2e-io/runs/r1"));
    assert_same_run(&url("e2e-io", "runs/r1"), &reference, "s3 out");

    // Local in, local out: the same documents (only the source names differ).
    let local = tmp.path().join("local");
    run_into(&local_cfg, "2", &local);
    let ids_texts = |out: &Path| -> Vec<(String, String)> {
        read_parquet_dir(&out.join("curated"))
            .iter()
            .flat_map(|b| {
                let (i, t) = (col(b, "id"), col(b, "text"));
                (0..b.num_rows())
                    .map(|r| (i.value(r).to_string(), t.value(r).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(ids_texts(&local), ids_texts(&reference));

    // Reading a run in a bucket: query and sample see what the local run holds.
    let read = |args: &[&str]| {
        let o = sluice()
            .args(args)
            .env("SLUICE_CACHE", &cache)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let (remote, local) = ("s3://e2e-io/runs/r1", reference.to_str().unwrap());
    let count = "SELECT count(*) AS n FROM curated";
    assert_eq!(
        read(&["query", remote, count, "--format", "csv"]),
        read(&["query", local, count, "--format", "csv"])
    );
    let sample = read(&["sample", remote, "--kept", "-n", "3", "--seed", "7"]);
    assert!(sample.starts_with("3 of "), "{sample}");
    assert_eq!(
        sample,
        read(&["sample", local, "--kept", "-n", "3", "--seed", "7"])
    );
    let inspect = run_ok(&["inspect", "s3://e2e-io/runs/r1"]);
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("exact_dedup"));

    // A prefix holding other objects is refused, and left as it was.
    let foreign = url("e2e-io", "theirs/notes.txt");
    foreign.put(b"not a run".as_slice().into()).unwrap();
    let err = run_err(&[
        "run",
        s3_cfg.to_str().unwrap(),
        "--out",
        "s3://e2e-io/theirs",
    ]);
    assert!(err.contains("no sluice run"), "{err}");
    assert_eq!(&foreign.get().unwrap()[..], b"not a run");
    assert!(url("e2e-io", "theirs/.sluice.lock")
        .head()
        .unwrap()
        .is_none());
}

fn spawn_slow(cfg: &Path, out: &str, cache: &Path) -> Child {
    sluice()
        .args(["run", cfg.to_str().unwrap(), "--workers", "2", "--out", out])
        .env("SLUICE_CACHE", cache)
        .env("SLUICE_TEST_SHARD_DELAY_MS", "1500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn remote_done(prefix: &ObjectUrl, phase: usize) -> usize {
    prefix
        .join(&format!("work/phase-{phase}"))
        .list()
        .map(|l| {
            l.iter()
                .filter(|o| o.url.file_name().starts_with("done-"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_second_run_is_refused_and_a_killed_run_resumes_identically() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), "e2e-crash");
    let cfg = config(tmp.path(), "s3.toml", "s3://e2e-crash/raw/*");
    let reference = tmp.path().join("reference");
    run_into(&cfg, "2", &reference);
    // Killed in phase 0 with the scratch dir kept; in phase 1 (after the barrier resolved)
    // with it deleted, as on another machine.
    for (n, phase, keep_scratch) in [(0, 0, true), (1, 1, false)] {
        let out = format!("s3://e2e-crash/runs/k{n}");
        let prefix = url("e2e-crash", &format!("runs/k{n}"));
        let cache = tmp.path().join(format!("cache-{n}"));
        let mut child = spawn_slow(&cfg, &out, &cache);
        wait_for("shards in the bucket", || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            remote_done(&prefix, phase) >= 2
        });
        let second = sluice()
            .args(["run", cfg.to_str().unwrap(), "--out", &out])
            .env("SLUICE_CACHE", tmp.path().join("other-cache"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(
            !second.status.success() && err.contains("in use by another sluice run"),
            "{err}"
        );
        child.kill().unwrap(); // SIGKILL, mid-run
        child.wait().unwrap();
        assert!(
            prefix.join("work/complete.json").head().unwrap().is_none(),
            "finished before the kill"
        );
        if phase == 1 {
            // The rows phase 0 handed on are in the bucket, LZ4 (uploaded: compressed
            // unless the config says otherwise).
            let (_, part) = objects(&prefix)
                .into_iter()
                .find(|(k, _)| k.starts_with("work/phase-0/part-"))
                .expect("phase 0's rows uploaded");
            let local = tmp.path().join("part.parquet");
            std::fs::write(&local, part).unwrap();
            assert_eq!(parquet_codecs(&local), ["LZ4_RAW".to_string()].into());
        }
        if !keep_scratch {
            // A rerun on another machine: only the bucket's copy is left.
            std::fs::remove_dir_all(&cache).unwrap();
        }
        run_s3(&cfg, "1", &out, &cache);
        assert_same_run(
            &prefix,
            &reference,
            &format!("kill {n}, scratch kept: {keep_scratch}"),
        );
    }
}

#[test]
fn throttling_and_resets_are_retried_to_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), "e2e-faults");
    let cfg = config(tmp.path(), "s3.toml", "s3://e2e-faults/raw/*");
    let reference = tmp.path().join("reference");
    run_into(&cfg, "2", &reference);
    let proxy = FaultProxy::start(shared_server().port, 10, 2);
    let o = sluice()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--workers",
            "2",
            "--out",
            "s3://e2e-faults/runs/f",
        ])
        .env("SLUICE_CACHE", tmp.path().join("cache"))
        .envs(S3Server::env_for(&proxy.endpoint()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(proxy.faults.load(std::sync::atomic::Ordering::Relaxed) > 5);
    let retried: u64 = err
        .split(" retried")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry count in: {err}"));
    assert!(retried > 5, "{err}");
    assert!(!err.contains(SECRET_KEY));
    assert_same_run(&url("e2e-faults", "runs/f"), &reference, "faults");
}

//! Crash safety: a run killed with SIGKILL and started again gives byte-identical output to
//! an uninterrupted run; a second concurrent run on the same output dir is refused; a
//! different config on a used output dir is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::common::*;

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

    // A complete run keeps its markers, not the rows it handed from phase to phase nor
    // the barrier's side files.
    let work = tree(&reference.join("work"));
    let left: Vec<_> = work
        .keys()
        .filter(|k| k.contains("part-") || k.starts_with("barrier-") || k.starts_with("finish"))
        .collect();
    let some = &left[..left.len().min(4)];
    assert!(
        left.is_empty(),
        "{} files left in work/: {some:?}…",
        left.len()
    );
    assert!(
        work.keys().any(|k| k.contains("done-")),
        "{:?}",
        work.keys()
    );

    // The reruns store the rows handed across the barrier as LZ4, the killed runs left
    // them uncompressed (a local run's default): the codec is not part of the run's
    // identity, a phase reads either, and the output is the same.
    let lz4 = tmp.path().join("pipeline-lz4.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace("[run]\n", "[run]\nintermediates = \"lz4\"\n");
    assert!(
        text.contains("intermediates"),
        "the fixture has no [run] table"
    );
    std::fs::write(&lz4, text).unwrap();

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
        if phase == 1 {
            let part = out.join("work/phase-0/part-00000.parquet");
            assert_eq!(parquet_codecs(&part), ["UNCOMPRESSED".to_string()].into());
        }

        let rerun = run_ok(&[
            "run",
            lz4.to_str().unwrap(),
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
    let err = run_err(&["run", cfg.to_str().unwrap()]);
    assert!(err.contains("different config"), "{err}");

    // A non-empty directory that is no sluice run is refused too.
    let stray = tmp.path().join("stray");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("notes.txt"), "mine").unwrap();
    assert!(run_err(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        stray.to_str().unwrap(),
    ])
    .contains("holds no sluice run"));
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

/// The crash fixture with a MinHash barrier too and `[tokenize]`: three phases, token shards
/// and a manifest.
fn ranks_fixture(root: &Path) -> PathBuf {
    fixture(root);
    run_ok(&[
        "tokenizer",
        "train",
        "--input",
        root.join("raw/part-00.jsonl.gz").to_str().unwrap(),
        "--vocab-size",
        "400",
        "--out",
        root.join("tokenizer.json").to_str().unwrap(),
    ]);
    let cfg = root.join("ranks.toml");
    let base = std::fs::read_to_string(root.join("pipeline.toml")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "{base}\n[[stages]]\ntype = \"minhash_dedup\"\n\n[tokenize]\n\
             tokenizer = \"tokenizer.json\"\neos_token = \"<|endoftext|>\"\n\
             pad_token = \"<|pad|>\"\nseq_len = 63\nshard_tokens = 20000\n"
        ),
    )
    .unwrap();
    cfg
}

/// Everything a run must reproduce: curated, rejected, token shards and the manifest.
fn all_outputs(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut t = data_outputs(out);
    for (k, v) in tree(&out.join("shards")) {
        t.insert(format!("shards/{k}"), v);
    }
    t.insert(
        "manifest.json".into(),
        std::fs::read(out.join("manifest.json")).unwrap(),
    );
    t
}

fn spawn_rank(cfg: &Path, out: &Path, rank: usize, env: &[(&str, &str)]) -> Child {
    let mut c = sluice();
    c.args(["run", cfg.to_str().unwrap(), "--workers", "1", "--out"])
        .arg(out)
        .args(["--rank", &rank.to_string(), "--world", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Processes killed when the test ends, passing or failing (no orphan ranks waiting forever).
struct KillOnDrop(Vec<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The child's exit status and stderr once it exits; fails the test after `secs` seconds
/// (the child is then killed by its [`KillOnDrop`]).
fn finish_within(c: &mut Child, secs: u64) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let start = std::time::Instant::now();
    let mut err = String::new();
    let mut pipe = c.stderr.take();
    loop {
        if let Some(status) = c.try_wait().unwrap() {
            if let Some(p) = pipe.as_mut() {
                p.read_to_string(&mut err).unwrap();
            }
            return (status, err);
        }
        assert!(
            start.elapsed().as_secs() <= secs,
            "still running after {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn reference_run(cfg: &Path, out: &Path) {
    run_ok(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(out.join("manifest.json").exists());
}

/// Three processes with `--rank/--world` (an index-only engine) sharing the output dir give
/// byte for byte what one process gives.
#[test]
fn three_ranks_give_the_output_of_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ranks_fixture(tmp.path());
    let (one, three) = (tmp.path().join("one"), tmp.path().join("three"));
    reference_run(&cfg, &one);
    let mut ranks = KillOnDrop((0..3).map(|r| spawn_rank(&cfg, &three, r, &[])).collect());
    for (r, c) in ranks.0.iter_mut().enumerate() {
        let (status, err) = finish_within(c, 120);
        assert!(status.success(), "rank {r}: {err}");
    }
    assert_eq!(all_outputs(&three), all_outputs(&one));
    assert_eq!(stats_without_seconds(&three), stats_without_seconds(&one));
    assert!(no_tmp_files(&three));
}

/// `mpirun -np 3 sluice run`: rank and size come from the MPI environment.
#[test]
fn mpirun_ranks_give_the_output_of_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ranks_fixture(tmp.path());
    let (one, mpi) = (tmp.path().join("one"), tmp.path().join("mpi"));
    reference_run(&cfg, &one);
    let o = std::process::Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "3"])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", cfg.to_str().unwrap(), "--workers", "1", "--out"])
        .arg(&mpi)
        .env("RUST_LOG", "warn")
        .output()
        .expect("mpirun starts (scripts/setup.sh installs OpenMPI)");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("rank 2/3 done"), "{stdout}");
    assert_eq!(all_outputs(&mpi), all_outputs(&one));
}

/// A rank SIGKILLed mid-phase fails the ranks waiting on it with an error naming it (no
/// hang); rerunning the three ranks resumes and gives the one-process output.
#[test]
fn a_killed_rank_fails_the_others_and_a_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ranks_fixture(tmp.path());
    let (one, out) = (tmp.path().join("one"), tmp.path().join("killed"));
    reference_run(&cfg, &one);
    let env = [
        ("SLUICE_TEST_SHARD_DELAY_MS", "200"),
        ("SLUICE_RANK_TIMEOUT_SECS", "1"),
    ];
    let mut ranks = KillOnDrop((0..3).map(|r| spawn_rank(&cfg, &out, r, &env)).collect());
    wait_for("a few shards", || done_markers(&out, 0) >= 4);
    ranks.0[1].kill().unwrap();
    ranks.0[1].wait().unwrap();
    assert!(
        done_markers(&out, 0) < 16,
        "phase 0 finished before the kill"
    );
    for r in [0, 2] {
        let (status, err) = finish_within(&mut ranks.0[r], 60);
        assert!(!status.success(), "rank {r} should fail");
        assert!(err.contains("rank 1 of this run failed"), "rank {r}: {err}");
    }
    let mut ranks = KillOnDrop((0..3).map(|r| spawn_rank(&cfg, &out, r, &[])).collect());
    for c in ranks.0.iter_mut() {
        let (status, err) = finish_within(c, 120);
        assert!(status.success(), "{err}");
    }
    assert_eq!(all_outputs(&out), all_outputs(&one));
    assert!(no_tmp_files(&out));
}

/// Exact dedup then MinHash: the phase between the two barriers only applies the first and
/// observes for the second, so it writes no rows and the last phase reads phase 0's and
/// replays exact dedup's drops. Killed in that last phase and rerun, the output is the
/// reference's, and the same as when a stage in the middle phase makes it write its rows.
#[test]
fn a_phase_that_only_applies_a_barrier_writes_no_rows_and_is_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ranks_fixture(tmp.path());
    let reference = tmp.path().join("reference");
    reference_run(&cfg, &reference);
    let s = stats(&reference);
    for (k, reason) in [
        (2, "exact_dedup.duplicate"),
        (3, "minhash_dedup.near_duplicate"),
    ] {
        assert!(
            s["stages"][k]["rejects"][reason].as_u64().unwrap() > 0,
            "{s}"
        );
    }

    let out = tmp.path().join("killed");
    let mut child = spawn_slow(&cfg, &out);
    wait_for("last-phase shards", || done_markers(&out, 2) >= 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        done_markers(&out, 2) < 16,
        "the run finished before the kill"
    );
    let parts = |phase: usize| {
        tree(&out.join(format!("work/phase-{phase}")))
            .keys()
            .filter(|k| k.ends_with(".parquet"))
            .count()
    };
    assert!(
        parts(0) > 0,
        "phase 0 writes the rows the later phases read"
    );
    assert_eq!(parts(1), 0, "the middle phase wrote rows");
    run_ok(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(all_outputs(&out), all_outputs(&reference));
    assert_eq!(
        stats_without_seconds(&out),
        stats_without_seconds(&reference)
    );

    // A stage between the barriers that drops nothing (every kept text already has 40
    // characters) makes the middle phase write its rows: the same curated rows.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[[stages]]\ntype = \"minhash_dedup\"",
        "[[stages]]\ntype = \"length\"\nmin_chars = 40\n[[stages]]\ntype = \"minhash_dedup\"",
    );
    let written = tmp.path().join("written.toml");
    std::fs::write(&written, text).unwrap();
    let out2 = tmp.path().join("written");
    reference_run(&written, &out2);
    assert_eq!(data_outputs(&out2), data_outputs(&reference));
}

/// The single-node Slurm that `scripts/setup-slurm.sh` (run by `scripts/setup.sh`) starts.
fn slurm_conf() -> String {
    let conf = std::env::var("SLURM_CONF").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap();
        let cache = std::env::var("SLUICE_CACHE").unwrap_or(format!("{home}/.cache/sluice"));
        format!("{cache}/slurm/slurm.conf")
    });
    assert!(
        Path::new(&conf).exists(),
        "no Slurm at {conf}: run scripts/setup-slurm.sh (scripts/setup.sh does)"
    );
    conf
}

/// `sluice run --slurm`, then waits until Slurm has no job of this run left.
fn slurm_run(cfg: &Path, out: &Path, env: &[(&str, &str)]) -> String {
    let conf = slurm_conf();
    let mut c = sluice();
    c.args(["run", cfg.to_str().unwrap(), "--workers", "1", "--out"])
        .arg(out)
        .args(["--slurm", "--tasks", "3"])
        .env("SLURM_CONF", &conf);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

/// sluice's jobs in the queue (the test cluster runs nothing else).
fn slurm_jobs(conf: &str, _out: &Path) -> Vec<String> {
    let o = std::process::Command::new("squeue")
        .args(["-h", "-o", "%i %j %T %r"])
        .env("SLURM_CONF", conf)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "squeue: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(" sluice-p"))
        .map(str::to_string)
        .collect()
}

/// Polls until Slurm holds no job of this run (at most 5 minutes: scheduling is slow).
fn wait_slurm_idle(conf: &str, out: &Path) {
    let start = std::time::Instant::now();
    while !slurm_jobs(conf, out).is_empty() {
        assert!(
            start.elapsed().as_secs() < 300,
            "slurm jobs still there: {:?}",
            slurm_jobs(conf, out)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// A real Slurm: one job array per step, chained with afterok, gives byte for byte what one
/// process gives, and so does `srun -n 3 sluice run` in a batch job; an array task cancelled mid-phase stops the chain, and rerunning the
/// launcher submits only the unfinished tasks and completes the same output.
#[test]
fn slurm_job_arrays_give_the_output_of_one_process() {
    let conf = slurm_conf();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ranks_fixture(tmp.path());
    let (one, out) = (tmp.path().join("one"), tmp.path().join("slurm"));
    reference_run(&cfg, &one);
    let said = slurm_run(&cfg, &out, &[]);
    assert!(
        said.contains("sluice-p0-shards") && said.contains("sluice-p2-finish"),
        "{said}"
    );
    wait_slurm_idle(&conf, &out);
    assert!(
        out.join("work/complete.json").exists(),
        "{said}: see {out:?}/work/slurm"
    );
    assert_eq!(all_outputs(&out), all_outputs(&one));

    // With a persistent dedup index: the launcher pins it, the array tasks only read it, the
    // finish step adds the run (an empty index changes no decision).
    let indexed = tmp.path().join("indexed.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "type = \"minhash_dedup\"\n",
        "type = \"minhash_dedup\"\nindex = \"idx\"\n",
    );
    std::fs::write(&indexed, text).unwrap();
    let idx_out = tmp.path().join("slurm-indexed");
    slurm_run(&indexed, &idx_out, &[]);
    wait_slurm_idle(&conf, &idx_out);
    assert_eq!(all_outputs(&idx_out), all_outputs(&one));
    let m = std::fs::read_to_string(tmp.path().join("idx/index.json")).unwrap();
    assert!(m.contains("\"run\": \"slurm-indexed\""), "{m}");

    // `srun` inside a batch job: ranks from SLURM_PROCID and SLURM_STEP_NUM_TASKS.
    let srun_out = tmp.path().join("srun");
    let o = std::process::Command::new("sbatch")
        .args(["--wait", "-n", "3", "-O", "--job-name=sluice-psrun"])
        .arg(format!(
            "--output={}",
            tmp.path().join("srun.log").display()
        ))
        .arg("--wrap")
        .arg(format!(
            "srun -n 3 -O {} run {} --workers 1 --out {}",
            env!("CARGO_BIN_EXE_sluice"),
            cfg.display(),
            srun_out.display()
        ))
        .env("SLURM_CONF", &conf)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let log = std::fs::read_to_string(tmp.path().join("srun.log")).unwrap_or_default();
    assert!(
        o.status.success(),
        "{log}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(log.contains("rank 2/3 done"), "{log}");
    assert_eq!(all_outputs(&srun_out), all_outputs(&one));

    // Cancel rank 1's shard task mid-phase.
    let killed = tmp.path().join("killed");
    let said = slurm_run(&cfg, &killed, &[("SLUICE_TEST_SHARD_DELAY_MS", "300")]);
    let shards_job = said
        .lines()
        .find(|l| l.contains("sluice-p0-shards"))
        .and_then(|l| l.split(" as job ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    wait_for("a few shards", || done_markers(&killed, 0) >= 3);
    let st = std::process::Command::new("scancel")
        .arg(format!("{shards_job}_1"))
        .env("SLURM_CONF", &conf)
        .status()
        .unwrap();
    assert!(st.success());
    wait_slurm_idle(&conf, &killed);
    assert!(!killed.join("work/complete.json").exists());
    assert!(done_markers(&killed, 0) < 16);
    let again = slurm_run(&cfg, &killed, &[]);
    // Ranks 0 and 2 finished their shards: only rank 1's are submitted again.
    let p0 = again
        .lines()
        .find(|l| l.contains("sluice-p0-shards"))
        .unwrap_or_default();
    assert!(p0.ends_with("(ranks [1])"), "{again}");
    wait_slurm_idle(&conf, &killed);
    assert_eq!(all_outputs(&killed), all_outputs(&one));
}

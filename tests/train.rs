//! The trainer end to end on real packed text (fortunes by category + Tang poems, curated
//! and packed by `sluice run`): the loss falls; a run stopped at a checkpoint and continued
//! reproduces the uninterrupted run's losses; 2 MPI ranks keep identical parameters and
//! match 1 rank on the same global batch; early stopping fires on a flat validation loss.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::*;

/// Packed shards of the bundled corpus (built once per test binary).
fn shards() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let tok = dir.join("tokenizer.json");
        run_ok(&[
            "tokenizer",
            "train",
            "--input",
            bundled("fortunes.jsonl.gz").to_str().unwrap(),
            "--input",
            bundled("tang-poems.parquet").to_str().unwrap(),
            "--vocab-size",
            "1200",
            "--out",
            tok.to_str().unwrap(),
        ]);
        let cfg = dir.join("pipeline.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[[input]]
paths = ["{f}"]
[[input]]
paths = ["{p}"]
[output]
dir = "out"
[[stages]]
type = "length"
min_chars = 20
[tokenize]
tokenizer = "tokenizer.json"
seq_len = 64
"#,
                f = bundled("fortunes.jsonl.gz").display(),
                p = bundled("tang-poems.parquet").display()
            ),
        )
        .unwrap();
        run_ok(&["run", cfg.to_str().unwrap()]);
        dir.join("out")
    })
}

fn train_config(dir: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("train.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[data]
manifest = "{m}"
val_fraction = 0.1
doc_mask = true
[model]
preset = "tiny"
[optim]
lr = 0.006
warmup_steps = 5
max_steps = 40
batch_size = 8
[eval]
every = 20
rows_per_domain = 8
[mixing]
rule = "exp3"
update_every = 5
[run]
out_dir = "run"
threads = 1
checkpoint_every = 20
{extra}
"#,
            m = shards().join("manifest.json").display()
        ),
    )
    .unwrap();
    cfg
}

fn losses(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("loss").is_some())
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

fn summary(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn loss_falls_and_a_resumed_run_continues_the_same_curve() {
    let a = tempfile::tempdir().unwrap();
    let cfg = train_config(a.path(), "");
    run_ok(&["train", cfg.to_str().unwrap()]);
    let full = losses(&a.path().join("run"));
    assert_eq!(full.len(), 40);
    let first: f64 = full[..5].iter().map(|x| x.1).sum::<f64>() / 5.0;
    let last: f64 = full[35..].iter().map(|x| x.1).sum::<f64>() / 5.0;
    assert!(first > 6.0, "starts near ln(vocab): {first}");
    assert!(last < first - 0.8, "loss did not fall: {first} -> {last}");
    let s = summary(&a.path().join("run"));
    assert!(s["val_loss"]["_all"].as_f64().unwrap() < first - 0.7, "{s}");
    // The mixture was updated (exp3) and logged with versions.
    let w = std::fs::read_to_string(a.path().join("run/weights.jsonl")).unwrap();
    assert!(w.lines().count() >= 5, "{w}");

    let b = tempfile::tempdir().unwrap();
    let cfg = train_config(b.path(), "");
    let out = run_ok(&["train", cfg.to_str().unwrap(), "--stop-after", "13"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("trained 13 steps"));
    run_ok(&["train", cfg.to_str().unwrap()]);
    let resumed = losses(&b.path().join("run"));
    assert_eq!(resumed.len(), 40);
    for ((sa, la), (sb, lb)) in full.iter().zip(&resumed) {
        assert_eq!(sa, sb);
        assert!(
            (la - lb).abs() <= 1e-4 * la.abs(),
            "step {sa}: {la} vs {lb}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(a.path().join("run/weights.jsonl")).unwrap(),
        std::fs::read_to_string(b.path().join("run/weights.jsonl")).unwrap()
    );

    // The HTML report of the curation run and this training run.
    let html = a.path().join("report.html");
    run_ok(&[
        "report",
        shards().to_str().unwrap(),
        "--train",
        a.path().join("run").to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    for want in [
        "Documents after each stage",
        "length.too_short",
        "poetry-zh",
        "Training loss",
        "val _all",
        "Mixture weights",
    ] {
        assert!(page.contains(want), "report lacks {want}");
    }
    assert!(page.matches("<polyline").count() >= 10);
}

#[test]
fn high_loss_resampling_is_replayed_exactly_after_a_resume() {
    let extra_mixing = "hard_fraction = 0.5\nhard_pool = 16\n";
    let with = |dir: &Path| {
        let cfg = train_config(dir, "");
        let t = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(
                "update_every = 5\n",
                &format!("update_every = 5\n{extra_mixing}"),
            )
            .replace("max_steps = 40", "max_steps = 24");
        std::fs::write(&cfg, t).unwrap();
        cfg
    };
    let a = tempfile::tempdir().unwrap();
    run_ok(&["train", with(a.path()).to_str().unwrap()]);
    let b = tempfile::tempdir().unwrap();
    let cfg = with(b.path());
    run_ok(&["train", cfg.to_str().unwrap(), "--stop-after", "11"]);
    run_ok(&["train", cfg.to_str().unwrap()]);
    let (la, lb) = (losses(&a.path().join("run")), losses(&b.path().join("run")));
    assert_eq!(la.len(), 24);
    assert_eq!(la.len(), lb.len());
    for ((s, x), (_, y)) in la.iter().zip(&lb) {
        assert!((x - y).abs() <= 1e-4 * x.abs(), "step {s}: {x} vs {y}");
    }
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(a.path().join("run/ckpt-latest/state.json")).unwrap(),
    )
    .unwrap();
    let pooled: usize = state["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_array().unwrap().len())
        .sum();
    assert!(pooled > 20, "{}", state["pools"]);
}

/// OpenMPI's `mpirun`, as root and with more ranks than cores allowed; the caller adds
/// `-np N PROGRAM ARGS`.
fn mpirun() -> std::process::Command {
    let path = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("OpenMPI's mpirun is not installed; scripts/setup.sh installs it");
    let mut c = std::process::Command::new(path);
    c.args(["--allow-run-as-root", "--oversubscribe"])
        .env("RUST_LOG", "warn")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    c
}

#[test]
fn two_mpi_ranks_stay_in_sync_and_match_one_rank() {
    let one = tempfile::tempdir().unwrap();
    let cfg1 = train_config(one.path(), "");
    run_ok(&["train", cfg1.to_str().unwrap()]);
    let two = tempfile::tempdir().unwrap();
    let cfg2 = train_config(two.path(), "");
    let out = mpirun()
        .args(["-np", "2"])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .args(["train", cfg2.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mpirun failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let s = summary(&two.path().join("run"));
    assert_eq!(s["ranks"], 2, "{s}");
    assert_eq!(s["ranks_in_sync"], true, "{s}");
    let (l1, l2) = (
        losses(&one.path().join("run")),
        losses(&two.path().join("run")),
    );
    assert_eq!(l1.len(), l2.len());
    for ((s1, a), (_, b)) in l1.iter().zip(&l2) {
        assert!(
            (a - b).abs() <= 2e-3 * a.abs(),
            "step {s1}: 1 rank {a}, 2 ranks {b}"
        );
    }
}

#[test]
fn early_stopping_fires_on_a_flat_validation_loss() {
    let d = tempfile::tempdir().unwrap();
    let cfg = train_config(d.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("lr = 0.006", "lr = 0.0000001")
        .replace(
            "[eval]\nevery = 20",
            "[eval]\nevery = 4\npatience = 2\nmin_delta = 0.01",
        );
    std::fs::write(&cfg, text).unwrap();
    let out = run_ok(&["train", cfg.to_str().unwrap()]);
    let s = summary(&d.path().join("run"));
    assert_eq!(s["stopped_early"], true, "{s}");
    // Evals at steps 4, 8, 12: the first sets the best, two more without gain stop it.
    assert_eq!(s["steps"], 12, "{s}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("early stop"));
}

#[test]
fn an_eval_manifest_is_validated_on_every_row_and_training_uses_all_rows() {
    let d = tempfile::tempdir().unwrap();
    let manifest = shards().join("manifest.json");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let rows = |dom: &str| m["domains"][dom]["rows"].as_u64().unwrap();
    // Without an eval manifest: every 10th row of each domain is held out.
    let cfg = train_config(d.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_steps = 40", "max_steps = 2")
        .replace("rows_per_domain = 8", "rows_per_domain = 100000");
    std::fs::write(&cfg, &text).unwrap();
    run_ok(&["train", cfg.to_str().unwrap()]);
    let held = summary(&d.path().join("run"))["val_rows"].clone();
    // With one (here the same shards, as a held-out set would be packed): all of its rows.
    let text = text
        .replace("val_fraction = 0.1", "val_fraction = 0.0")
        .replace(
            "doc_mask = true",
            &format!(
                "doc_mask = true\neval_manifest = \"{}\"",
                manifest.display()
            ),
        )
        .replace("out_dir = \"run\"", "out_dir = \"run2\"");
    std::fs::write(&cfg, &text).unwrap();
    run_ok(&["train", cfg.to_str().unwrap()]);
    let all = summary(&d.path().join("run2"))["val_rows"].clone();
    let doms = m["domains"].as_object().unwrap();
    assert!(doms.len() >= 2);
    for dom in doms.keys() {
        assert_eq!(all[dom].as_u64().unwrap(), rows(dom), "{dom}: {all}");
        assert_eq!(held[dom].as_u64().unwrap(), rows(dom) / 10, "{dom}: {held}");
    }
}

/// Overlapping cron runs on one output dir would mix checkpoints and logs: a second
/// `sluice train` is refused while another holds the dir.
#[test]
fn a_second_training_run_on_the_same_output_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = train_config(tmp.path(), "");
    let held = pipeline::lock::RunLock::acquire(&tmp.path().join("run")).unwrap();
    let err = run_err(&["train", cfg.to_str().unwrap()]);
    assert!(err.contains("in use by another sluice run"), "{err}");
    drop(held);
}

/// The demo needs nothing from the checkout: started in an empty directory it unpacks its
/// embedded corpus and pipeline under `--out` and writes everything there.
#[test]
fn the_demo_runs_from_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = sluice()
        .current_dir(tmp.path())
        .args(["demo", "--steps", "4", "--out", "here"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let here = tmp.path().join("here");
    for f in [
        "data/default/fortunes.jsonl.gz",
        "pipeline.toml",
        "tokenizer.json",
        "default/manifest.json",
        "demo-train/summary.json",
        "report.html",
    ] {
        assert!(here.join(f).exists(), "{f} missing");
    }
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "the demo wrote outside --out");
}

/// A run stopped right after a mixture update (step 15, update_every 5) and resumed logs
/// the same weights.jsonl as an uninterrupted run, and log.jsonl has each step once.
#[test]
fn a_resume_at_an_update_step_keeps_the_mixture_log_whole() {
    let a = tempfile::tempdir().unwrap();
    let cfg = train_config(a.path(), "");
    run_ok(&["train", cfg.to_str().unwrap()]);
    let b = tempfile::tempdir().unwrap();
    let cfg = train_config(b.path(), "");
    run_ok(&["train", cfg.to_str().unwrap(), "--stop-after", "15"]);
    run_ok(&["train", cfg.to_str().unwrap()]);
    let read = |d: &tempfile::TempDir, f: &str| {
        std::fs::read_to_string(d.path().join("run").join(f)).unwrap()
    };
    assert_eq!(read(&a, "weights.jsonl"), read(&b, "weights.jsonl"));
    let steps = |text: String| -> Vec<(u64, bool)> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["step"].as_u64().unwrap(), v.get("eval").is_some()))
            .collect()
    };
    assert_eq!(steps(read(&a, "log.jsonl")), steps(read(&b, "log.jsonl")));
}

/// Node-local or stale storage: rank 0 sees a checkpoint at step 13, rank 1 (another
/// out_dir, as if on another node) none. Both fail clearly instead of desyncing or hanging.
#[test]
fn mpi_ranks_that_see_different_checkpoints_fail_clearly() {
    let a = tempfile::tempdir().unwrap();
    let cfg_a = train_config(a.path(), "");
    run_ok(&["train", cfg_a.to_str().unwrap(), "--stop-after", "13"]);
    let b = tempfile::tempdir().unwrap();
    let cfg_b = train_config(b.path(), "");
    let bin = env!("CARGO_BIN_EXE_sluice");
    let mut child = mpirun()
        .args(["-np", "1", bin, "train"])
        .arg(&cfg_a)
        .args([":", "-np", "1", bin, "train"])
        .arg(&cfg_b)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > 60 {
            child.kill().unwrap();
            panic!("the ranks hung instead of failing");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the ranks disagree"), "{err}");
}

/// `sluice train` over `s3://…/manifest.json` on a real S3-compatible server (moto on
/// loopback): the same rows and losses at every step as over the local shards, each shard
/// fetched into the cache once and said so.
#[test]
fn training_from_a_bucket_draws_the_same_rows_and_losses_as_from_disk() {
    let d = tempfile::tempdir().unwrap();
    let server = store::testing::shared_server();
    server.create_bucket("train-shards");
    let src = shards();
    let mut files = vec![src.join("manifest.json")];
    for dom in std::fs::read_dir(src.join("shards")).unwrap() {
        for f in std::fs::read_dir(dom.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    for f in &files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
        let url = store::ObjectUrl {
            bucket: "train-shards".into(),
            key: format!("run/{rel}"),
        };
        url.put_file(f).unwrap();
    }
    let cfg = train_config(d.path(), "log_rows = true");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_steps = 40", "max_steps = 12")
        .replace("every = 20", "every = 6");
    std::fs::write(&cfg, &text).unwrap();
    run_ok(&["train", cfg.to_str().unwrap()]);
    let remote = text
        .replace(
            &format!("\"{}\"", src.join("manifest.json").display()),
            "\"s3://train-shards/run/manifest.json\"",
        )
        .replace("doc_mask = true", "doc_mask = true\ncache_mb = 1")
        .replace("out_dir = \"run\"", "out_dir = \"run-s3\"");
    assert!(remote.contains("s3://train-shards"));
    std::fs::write(&cfg, &remote).unwrap();
    let out = sluice()
        .args(["train", cfg.to_str().unwrap()])
        .env("SLUICE_CACHE", d.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let steps = |run: &str| -> Vec<(u64, f64, serde_json::Value)> {
        (std::fs::read_to_string(d.path().join(run).join("log.jsonl")).unwrap())
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("loss").is_some())
            .map(|v| {
                (
                    v["step"].as_u64().unwrap(),
                    v["loss"].as_f64().unwrap(),
                    v["rows"].clone(),
                )
            })
            .collect()
    };
    let (a, b) = (steps("run"), steps("run-s3"));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b, "the same rows and losses at every step");
    assert!(
        err.contains("shard cache: ") && !err.contains("shard cache: 0 shards"),
        "{err}"
    );
    assert!(!err.contains(store::testing::SECRET_KEY));
}

/// Elastic resume: a 2-rank run stopped at step 17 continues on 1 rank and on 3 ranks, and
/// the global batches of steps 17-40 equal an uninterrupted 2-rank run's (the plan of a step
/// does not depend on the world size; each rank takes its share of it).
#[test]
fn a_run_stopped_on_two_ranks_resumes_on_one_and_on_three() {
    let train = |dir: &Path, ranks: usize, stop: Option<&str>| {
        let cfg = dir.join("train.toml");
        let mut c = mpirun();
        c.args(["-np", &ranks.to_string()])
            .arg(env!("CARGO_BIN_EXE_sluice"))
            .args(["train", cfg.to_str().unwrap()]);
        if let Some(s) = stop {
            c.args(["--stop-after", s]);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{ranks} ranks: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    };
    let setup = |d: &Path| {
        let cfg = train_config(d, "log_rows = true");
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("batch_size = 8", "batch_size = 12");
        std::fs::write(&cfg, text).unwrap();
    };
    let rows = |run: &Path| -> Vec<(u64, serde_json::Value)> {
        std::fs::read_to_string(run.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("rows").is_some())
            .map(|v| (v["step"].as_u64().unwrap(), v["rows"].clone()))
            .filter(|(s, _)| *s >= 17)
            .collect()
    };
    let (whole, one, three) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for d in [&whole, &one, &three] {
        setup(d.path());
    }
    train(whole.path(), 2, None);
    train(one.path(), 2, Some("17"));
    train(three.path(), 2, Some("17"));
    train(one.path(), 1, None);
    train(three.path(), 3, None);
    let want = rows(&whole.path().join("run"));
    assert_eq!(want.len(), 23, "steps 17..40");
    assert_eq!(rows(&one.path().join("run")), want, "resumed on 1 rank");
    assert_eq!(rows(&three.path().join("run")), want, "resumed on 3 ranks");
    // Another global batch size cannot continue the same batches: refused, saying so.
    let cfg = one.path().join("train.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("batch_size = 12", "batch_size = 6")).unwrap();
    let e = run_err(&["train", cfg.to_str().unwrap()]);
    assert!(
        e.contains("optim.batch_size = 12") && e.contains("cannot resume exactly"),
        "{e}"
    );
}

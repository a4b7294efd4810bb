//! End to end: `sluice export` of a real packed run (fortunes and Tang poems) to every
//! format gives the same files for any worker count, and the same bytes in a bucket (moto
//! on loopback) as on disk. The formats' own readers check the files in the Python tests
//! (python/tests/test_export.py).

use std::path::{Path, PathBuf};

use crate::common::*;
use store::testing::shared_server;

fn packed(root: &Path) -> PathBuf {
    train_tokenizer(&root.join("tokenizer.json"), "800");
    let cfg = root.join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[input]]\npaths = [\"{}\", \"{}\"]\n[output]\ndir = \"out\"\n\
             [tokenize]\ntokenizer = \"tokenizer.json\"\nseq_len = 32\nshard_tokens = 5000\n",
            bundled("fortunes.jsonl.gz").display(),
            bundled("tang-poems.parquet").display()
        ),
    )
    .unwrap();
    run_ok(&["run", cfg.to_str().unwrap()]);
    root.join("out")
}

#[test]
fn exports_are_the_same_for_any_worker_count_and_in_a_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let run = packed(tmp.path());
    let server = shared_server();
    server.create_bucket("exports");
    for fmt in ["megatron", "litdata", "mds"] {
        let export = |workers: &str, out: &str| {
            let o = sluice()
                .args(["export", run.to_str().unwrap(), "--to", fmt, "--out", out])
                .args(["--workers", workers, "--chunk-tokens", "4000"])
                .env("SLUICE_CACHE", tmp.path().join("cache"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).unwrap()
        };
        let (w1, w4) = (
            tmp.path().join(format!("{fmt}-1")),
            tmp.path().join(format!("{fmt}-4")),
        );
        export("1", w1.to_str().unwrap());
        export("4", w4.to_str().unwrap());
        let local = tree(&w1);
        assert!(local.len() > 10, "{fmt}: {:?}", local.keys());
        assert_eq!(local, tree(&w4), "{fmt}: 1 and 4 workers");
        // The same directory with another chunk size would mix two layouts: refused.
        let e = run_err(&[
            "export",
            run.to_str().unwrap(),
            "--to",
            fmt,
            "--out",
            w1.to_str().unwrap(),
            "--chunk-tokens",
            "3000",
        ]);
        assert!(e.contains("chunk size"), "{fmt}: {e}");
        let url = format!("s3://exports/{fmt}");
        let said = export("2", &url);
        assert!(said.contains(&format!(
            "exported {} to {url}",
            run.join("manifest.json").display()
        )));
        assert!(
            !said.contains("export-staging"),
            "mix lines name the bucket: {said}"
        );
        let prefix = store::ObjectUrl {
            bucket: "exports".into(),
            key: fmt.into(),
        };
        let mut remote = std::collections::BTreeMap::new();
        for o in prefix.list().unwrap() {
            let rel = o.url.relative_to(&prefix).unwrap().to_string();
            remote.insert(rel, o.url.get().unwrap().to_vec());
        }
        assert_eq!(
            remote, local,
            "{fmt}: the bucket holds the local export's bytes"
        );
    }
}

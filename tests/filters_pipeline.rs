//! End to end: the filter stages in one pipeline over real text (bundled fortunes, Tang poems,
//! SPDX licenses) plus planted documents with PII, sensitive words and terminal noise; a
//! classifier trained with `sluice classifier train` runs as a stage.

use std::io::Write;

use crate::common::*;
use arrow::array::{Array, Float32Array, RecordBatch, StringArray};

fn s<'a>(b: &'a RecordBatch, c: &str) -> &'a StringArray {
    b.column_by_name(c)
        .unwrap_or_else(|| panic!("column {c}"))
        .as_any()
        .downcast_ref()
        .unwrap()
}

#[test]
fn filter_chain_over_real_text() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Classifier training data: fortunes labelled by category.
    let mut lab = std::fs::File::create(root.join("labelled.jsonl")).unwrap();
    for (_, text, dom) in fortunes() {
        writeln!(lab, "{}", serde_json::json!({"text": text, "label": dom})).unwrap();
    }
    drop(lab);
    let out = run_ok(&[
        "classifier",
        "train",
        "--input",
        root.join("labelled.jsonl").to_str().unwrap(),
        "--out",
        root.join("fortunes.cls").to_str().unwrap(),
    ]);
    let msg = String::from_utf8_lossy(&out.stdout);
    assert!(msg.contains("held-out accuracy"), "{msg}");

    std::fs::create_dir_all(root.join("raw")).unwrap();
    let planted = [
        ("pii", "Please contact our office about the new contract and the payment terms. Write to jane.doe@lawfirm.co.uk or call +44 20 7946 0958 before Friday, and the lawyer will reply with the details of the agreement and the schedule for the next meeting with the whole team."),
        ("pii-zh", "客户服务中心今天发布通知，请用户联系客服电话13812345678或者发送邮件到service@example.cn咨询相关业务。身份证号11010519491231002X的用户需要在本月底之前完成实名认证手续，逾期将无法正常使用账户的全部功能和服务。"),
        ("sensitive", "The forum thread turned into a discussion of genocide and other atrocities, and the moderators closed it after a number of complaints from the members of the community about the tone."),
        ("ansi", "\u{1b}[1;32mThe build finished without errors and all of the tests passed on the first try.\u{1b}[0m The team then moved on to write the documentation for the new release, which had been promised to the users for several months."),
    ];
    let mut f = std::fs::File::create(root.join("raw/planted.jsonl")).unwrap();
    for (id, text) in planted {
        writeln!(f, "{}", serde_json::json!({"id": id, "text": text})).unwrap();
    }
    drop(f);
    std::fs::copy(
        bundled("fortunes.jsonl.gz"),
        root.join("raw/fortunes.jsonl.gz"),
    )
    .unwrap();
    std::fs::copy(bundled("tang-poems.parquet"), root.join("raw/tang.parquet")).unwrap();
    std::fs::write(
        root.join("pipeline.toml"),
        r#"
[[input]]
paths = ["raw/planted.jsonl", "raw/fortunes.jsonl.gz"]
default_domain = "web"
[[input]]
paths = ["raw/tang.parquet"]
default_domain = "poetry-zh"
[output]
dir = "out"
[[stages]]
type = "clean"
[[stages]]
type = "language"
keep = ["en", "zh"]
[[stages]]
type = "gopher_repetition"
[[stages]]
type = "sensitive_words"
[[stages]]
type = "pii"
[[stages]]
type = "domain_keywords"
[[stages]]
type = "classifier"
model = "fortunes.cls"
"#,
    )
    .unwrap();
    run_ok(&["run", root.join("pipeline.toml").to_str().unwrap()]);
    let st = stats(&root.join("out"));
    let stage = |name: &str| {
        st["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(stage("clean")["counters"]["ansi_sequences"], 2);
    assert!(
        stage("sensitive_words")["rejects"]["sensitive_words.found"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let pii = stage("pii");
    assert!(pii["counters"]["email"].as_u64().unwrap() >= 2, "{pii}");
    assert!(pii["counters"]["phone_cn"].as_u64().unwrap() >= 1, "{pii}");
    assert_eq!(pii["counters"]["id_cn"], 1, "{pii}");

    let batches = read_parquet_dir(&root.join("out/curated"));
    let mut seen = std::collections::BTreeMap::new();
    let mut langs = std::collections::BTreeSet::new();
    for b in &batches {
        let prob: &Float32Array = b
            .column_by_name("classifier_prob")
            .unwrap()
            .as_any()
            .downcast_ref()
            .unwrap();
        for i in 0..b.num_rows() {
            seen.insert(
                s(b, "id").value(i).to_string(),
                (
                    s(b, "text").value(i).to_string(),
                    s(b, "domain").value(i).to_string(),
                ),
            );
            langs.insert(s(b, "lang").value(i).to_string());
            assert!(prob.value(i) > 0.0 && prob.value(i) <= 1.0);
            assert!(!s(b, "classifier_label").value(i).is_empty());
        }
    }
    assert!(langs.contains("en") && langs.contains("zh"), "{langs:?}");
    let (pii_text, pii_domain) = &seen["pii"];
    assert!(
        pii_text.contains("<EMAIL>")
            && pii_text.contains("<PHONE>")
            && !pii_text.contains("jane.doe"),
        "{pii_text}"
    );
    assert_eq!(pii_domain, "legal", "keyword labelling of a contract text");
    assert!(seen["pii-zh"].0.contains("<ID_CN>") && seen["pii-zh"].0.contains("<PHONE>"));
    assert!(!seen.contains_key("sensitive"));
    assert!(
        seen["ansi"].0.starts_with("The build finished"),
        "{}",
        seen["ansi"].0
    );
    // Tang poems survive as Chinese text.
    assert!(seen.values().any(|(_, d)| d == "poetry-zh"));
}

/// Python's own standard library (the interpreter on this machine): every module that
/// compiles before the default `clean` still compiles after it, and most are unchanged.
#[test]
fn default_clean_keeps_real_python_compiling() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let prepare = r#"
import json, pathlib, sys, sysconfig
std = pathlib.Path(sysconfig.get_paths()["stdlib"])
n = 0
with open(sys.argv[1], "w") as out:
    for p in sorted(std.glob("*.py"))[:400]:
        try:
            text = p.read_bytes().decode("utf-8")
            compile(text, str(p), "exec")
        except Exception:
            continue
        out.write(json.dumps({"id": p.name, "text": text, "domain": "code"}) + "\n")
        n += 1
print(n)
"#;
    let py = |script: &str, arg: &std::path::Path| {
        let out = std::process::Command::new("python3")
            .args(["-c", script, arg.to_str().unwrap()])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let modules: usize = py(prepare, &root.join("raw/code.jsonl"))
        .trim()
        .parse()
        .unwrap();
    assert!(modules >= 100, "only {modules} stdlib modules found");
    std::fs::write(
        root.join("pipeline.toml"),
        "[[input]]\npaths = [\"raw/code.jsonl\"]\n[output]\ndir = \"out\"\njsonl = true\n\
         [[stages]]\ntype = \"clean\"\n",
    )
    .unwrap();
    run_ok(&["run", root.join("pipeline.toml").to_str().unwrap()]);
    let check = r#"
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
before = {}
for line in open(root / "raw/code.jsonl"):
    d = json.loads(line)
    before[d["id"]] = d["text"]
failed, same, n = [], 0, 0
for f in sorted((root / "out/curated-jsonl").glob("*.jsonl")):
    for line in open(f):
        d = json.loads(line)
        n += 1
        same += d["text"] == before[d["id"]]
        try:
            compile(d["text"], d["id"], "exec")
        except Exception as e:
            failed.append(f"{d['id']}: {e}")
print(json.dumps({"n": n, "same": same, "failed": failed}))
"#;
    let r: serde_json::Value = serde_json::from_str(&py(check, root)).unwrap();
    assert_eq!(r["n"].as_u64().unwrap() as usize, modules, "{r}");
    assert_eq!(r["failed"], serde_json::json!([]), "{r}");
    // Changed only where there was noise: trailing spaces, form feeds, long blank runs.
    let same = r["same"].as_u64().unwrap() as usize;
    assert!(
        same * 10 >= modules * 8,
        "{same} of {modules} unchanged: {r}"
    );
}

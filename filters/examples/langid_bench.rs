//! Language ID on labelled real text (benches/langid_data.py): accuracy per language and
//! length bucket, the share kept by `keep = ["en", "zh"]`, and documents per second on one
//! core, for the `language` stage's models and for whatlang and whichlang called bare (as the
//! stage called whatlang before). Prints a Markdown table and, with `--json FILE`, appends rows
//! for benches/summary.py.
//!
//! cargo run --release -p sluice-filters --example langid_bench -- LABELLED.jsonl [--json F]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Instant;

use filters::language::{LanguageConfig, LanguageId, Model};

struct Unit {
    text: String,
    lang: String,
    bucket: String,
    mixed: bool,
    source: String,
}

type Detect = Box<dyn Fn(&str) -> String>;

/// Group -> (units in it, accuracy % per detector).
type Pivot = BTreeMap<String, (u64, Vec<f64>)>;

fn whichlang_code(l: whichlang::Lang) -> String {
    match l.three_letter_code() {
        "eng" => "en",
        "cmn" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "ita" => "it",
        "spa" => "es",
        other => other,
    }
    .to_string()
}

fn stage(model: Model) -> Detect {
    let l = LanguageId::new(LanguageConfig {
        model,
        keep: vec!["en".into(), "zh".into()],
        ..Default::default()
    })
    .unwrap();
    Box::new(move |t| l.detect(t).0.to_string())
}

fn detectors() -> Vec<(&'static str, Detect)> {
    vec![
        (
            "whatlang (bare, the old stage)",
            Box::new(|t: &str| {
                let end = t.char_indices().nth(4000).map_or(t.len(), |(i, _)| i);
                whatlang::detect(&t[..end]).map_or("und".into(), |i| match i.lang().code() {
                    "eng" => "en".to_string(),
                    "cmn" => "zh".into(),
                    "jpn" => "ja".into(),
                    "kor" => "ko".into(),
                    "ita" => "it".into(),
                    "spa" => "es".into(),
                    c => c.into(),
                })
            }),
        ),
        (
            "whichlang (bare, 16 languages)",
            Box::new(|t: &str| whichlang_code(whichlang::detect_language(t))),
        ),
        ("sluice: script + whatlang", stage(Model::Whatlang)),
        ("sluice: script + whichlang", stage(Model::Whichlang)),
        ("sluice: script + lingua", stage(Model::Lingua)),
        ("sluice: auto (default)", stage(Model::Auto)),
    ]
}

/// One row per language and length bucket, one column per detector: the share labelled right
/// (the share kept by `keep = ["en", "zh"]` goes to the JSON rows).
fn print_pivot(names: &[&str], pivot: &Pivot, speeds: &[f64], short: usize) {
    println!("| group | units | {} |", names.join(" | "));
    println!("|---|---:|{}", "---:|".repeat(names.len()));
    for (g, (n, cells)) in pivot {
        let cells: Vec<String> = cells.iter().map(|acc| format!("{acc:.1}%")).collect();
        println!("| {g} | {n} | {} |", cells.join(" | "));
    }
    let speeds: Vec<String> = speeds.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "| docs/s, one core ({short} docs < 100 chars) | | {} |",
        speeds.join(" | ")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .map(|i| args[i + 1].clone());
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].clone());
    let dump = args.iter().any(|a| a == "--errors");
    let units: Vec<Unit> = std::io::BufReader::new(std::fs::File::open(&args[1]).unwrap())
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            Unit {
                text: v["text"].as_str().unwrap().to_string(),
                lang: v["lang"].as_str().unwrap().to_string(),
                bucket: v["bucket"].as_str().unwrap().to_string(),
                mixed: v["mixed"].as_bool().unwrap(),
                source: v["source"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    let short: Vec<&Unit> = units
        .iter()
        .filter(|u| u.text.chars().count() < 100)
        .collect();
    let mut rows = vec![];
    let mut pivot: Pivot = BTreeMap::new();
    let mut names = vec![];
    let mut speeds = vec![];
    for (name, detect) in detectors() {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        // (group) -> (units, correct, kept)
        let mut acc: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for u in &units {
            let got = detect(&u.text);
            let kept = got == "en" || got == "zh";
            if dump && got != u.lang {
                eprintln!("{name}\t{}\t{got}\t{}\t{:?}", u.lang, u.source, u.text);
            }
            let mut groups = vec![
                format!("{} {}", u.lang, u.bucket),
                format!("{} all", u.lang),
            ];
            if u.mixed {
                groups.push("zh mixed with ASCII".into());
            }
            if u.lang == "en" && u.text.chars().count() >= 30 {
                groups.push("en >= 30 chars".into());
            }
            for g in groups {
                let e = acc.entry(g).or_default();
                e.0 += 1;
                e.1 += (got == u.lang) as u64;
                e.2 += kept as u64;
            }
        }
        // Speed: short units (< 100 chars), one thread, best of 3 passes.
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut n = 0usize;
            for u in &short {
                n += detect(&u.text).len();
            }
            std::hint::black_box(n);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let rate = short.len() as f64 / best;
        for (g, (n, ok, _)) in &acc {
            let e = pivot.entry(g.clone()).or_default();
            e.0 = *n;
            e.1.push(100.0 * *ok as f64 / *n as f64);
        }
        names.push(name);
        speeds.push(rate);
        let pct = |g: &str, kept: bool| {
            acc.get(g).map_or(0.0, |(n, ok, k)| {
                100.0 * if kept { *k } else { *ok } as f64 / *n as f64
            })
        };
        rows.push(serde_json::json!({
            "bench": "language ID, short docs (< 100 chars), 1 core",
            "tool": name,
            "seconds": best,
            "quality": format!(
                "en>=30 kept {:.2}%, zh mixed kept {:.2}%, it/es/ja/ko right {:.1}/{:.1}/{:.1}/{:.1}%",
                pct("en >= 30 chars", true),
                pct("zh mixed with ASCII", true),
                pct("it all", false),
                pct("es all", false),
                pct("ja all", false),
                pct("ko all", false),
            ),
            "note": format!("{} docs, {rate:.0} docs/s", short.len()),
        }));
    }
    print_pivot(&names, &pivot, &speeds, short.len());
    if let Some(path) = json_out {
        let mut old: Vec<serde_json::Value> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        old.extend(rows);
        std::fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    }
}

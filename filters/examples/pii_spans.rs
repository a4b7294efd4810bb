//! Prints the spans the `pii` stage finds, one JSON line each (`doc`, `start`, `end` in
//! characters, `kind`, `text`), for benches/pii_precision.py. Input: JSONL with `id`, `text`.
//!
//! cargo run --release -p sluice-filters --example pii_spans -- DOCS.jsonl [--all-ips]

use std::io::{BufRead, Write};

use filters::pii::{PiiConfig, PiiDetector};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let det = PiiDetector::new(PiiConfig {
        public_ips_only: !args.iter().any(|a| a == "--all-ips"),
        ..Default::default()
    })
    .unwrap();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for line in std::io::BufReader::new(std::fs::File::open(&args[1]).unwrap()).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let text = v["text"].as_str().unwrap();
        for m in det.find(text) {
            let start = text[..m.start].chars().count();
            let span = &text[m.start..m.end];
            let row = serde_json::json!({
                "doc": v["id"],
                "start": start,
                "end": start + span.chars().count(),
                "kind": m.kind.name(),
                "text": span,
            });
            writeln!(out, "{row}").unwrap();
        }
    }
}

//! Extracts the main text of HTML files: `extract_html FILE...` prints one JSON line per
//! file (`file`, `text`, `seconds` of extraction) and, on stderr, pages, MB and MB/s on one
//! core. Used by benches/web_bench.py and to look at what the extractor keeps.

use filters::html::extract::{extract, Favour, Options};

fn main() {
    let opts = Options {
        links: false,
        images: false,
        comments: false,
        favour: Favour::Balanced,
    };
    let (mut bytes, mut secs) = (0usize, 0f64);
    let files: Vec<String> = std::env::args().skip(1).collect();
    for f in &files {
        let html = String::from_utf8_lossy(&std::fs::read(f).expect("readable")).into_owned();
        let t = std::time::Instant::now();
        let e = extract(&html, &opts);
        let s = t.elapsed().as_secs_f64();
        secs += s;
        bytes += html.len();
        let line = serde_json::json!({"file": f, "text": e.text, "seconds": s});
        println!("{line}");
    }
    eprintln!(
        "{} pages, {:.1} MB, {:.1} MB/s",
        files.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
}

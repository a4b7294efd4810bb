//! Extracts the main text of HTML files: `extract_html FILE...` prints each file's text
//! (between `==> FILE <==` lines) and, on stderr, pages, MB and MB/s on one core. Used by
//! the extraction benchmark and to look at what the extractor keeps.

use filters::html::extract::{extract, Favour, Options};

fn main() {
    let opts = Options {
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
        secs += t.elapsed().as_secs_f64();
        bytes += html.len();
        println!("==> {f} <==\n{}\n", e.text);
    }
    eprintln!(
        "{} pages, {:.1} MB, {:.1} MB/s",
        files.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
}

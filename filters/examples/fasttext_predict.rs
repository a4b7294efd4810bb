//! Predicts with a fastText model in Rust: `fasttext_predict MODEL FILE K` reads one text
//! per line of FILE (JSON strings), prints one JSON line `[[label, prob], ...]` per text and,
//! on stderr, texts/s and MB/s on one core. Used by benches/fasttext_parity.py.

use std::io::{BufRead, Write};

use filters::fasttext::FastText;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = FastText::load(std::path::Path::new(&args[1])).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let k: usize = args[3].parse().expect("K");
    let texts: Vec<String> = std::io::BufReader::new(std::fs::File::open(&args[2]).expect("FILE"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("a line")).expect("a JSON string"))
        .collect();
    let t = std::time::Instant::now();
    let preds: Vec<_> = texts.iter().map(|x| model.predict(x, k, 0.0)).collect();
    let secs = t.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for p in preds {
        writeln!(out, "{}", serde_json::to_string(&p).unwrap()).unwrap();
    }
    let mb: usize = texts.iter().map(String::len).sum();
    eprintln!(
        "{} texts in {secs:.3} s: {:.0} texts/s, {:.1} MB/s",
        texts.len(),
        texts.len() as f64 / secs,
        mb as f64 / 1e6 / secs
    );
}

//! Tokens/s of plain encoding vs encoding + packing + writing shards, same texts, same
//! threads, one process (used by benches/tokenize_bench.py).
//!
//!     cargo run --release -p sluice-tokenize --example pack_bench -- TOKENIZER.json OUT_DIR REPS
//!
//! OUT_DIR must hold a run's `curated/` (the texts); shards are written to a temp copy.

use std::time::Instant;

use rayon::prelude::*;
use tokenize::{tokenize_curated, Tok, TokenizeConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (tok_path, out, reps) = (
        &args[1],
        std::path::PathBuf::from(&args[2]),
        args[3].parse::<usize>().unwrap(),
    );
    let tok = Tok::load(tok_path.as_ref(), "<|endoftext|>", None).expect("tokenizer");
    let texts = tokenize::texts::read_texts(&[out.join("curated")], "text").expect("texts");
    let threads = rayon::current_num_threads();
    let mut plain = vec![];
    let mut packed = vec![];
    let mut tokens = 0usize;
    let cfg = TokenizeConfig::from_table(
        toml::from_str(&format!("tokenizer = {tok_path:?}\nseq_len = 1024")).unwrap(),
    )
    .unwrap();
    for _ in 0..reps {
        let t = Instant::now();
        let enc: Vec<Vec<u32>> = texts.par_iter().map(|s| tok.encode(s).unwrap()).collect();
        plain.push(t.elapsed().as_secs_f64());
        tokens = enc.iter().map(|e| e.len() + 1).sum();
        let t = Instant::now();
        tokenize_curated(&out, &cfg, &tok, threads).expect("pack");
        packed.push(t.elapsed().as_secs_f64());
    }
    plain.sort_by(f64::total_cmp);
    packed.sort_by(f64::total_cmp);
    let (p, k) = (plain[reps / 2], packed[reps / 2]);
    println!(
        "{{\"docs\": {}, \"tokens\": {tokens}, \"threads\": {threads}, \"encode_s\": {p:.4}, \"encode_pack_write_s\": {k:.4}}}",
        texts.len()
    );
}

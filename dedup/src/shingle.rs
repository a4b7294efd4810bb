//! Shingling for MinHash: the text is normalised (NFKC, lower case), then cut into word
//! n-grams or character n-grams, each hashed to 32 bits with xxh3.
//!
//! Words are runs of letters/digits; every CJK character is a word of its own, so Chinese
//! text gets character n-grams in `word` mode without a segmenter, and mixed text works.
//! A text shorter than one n-gram is one shingle of everything it has.

use pipeline::chars::is_alphanumeric;
use pipeline::document::is_cjk;
use pipeline::scan::{cjk_ideograph_at, outside};
use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::normalize::nfkc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShingleKind {
    /// Word n-grams (CJK characters count as words).
    Word,
    /// Character n-grams over the whitespace-collapsed text.
    Char,
}

/// Sorted, distinct 32-bit shingle hashes of `text`.
pub fn shingles(text: &str, kind: ShingleKind, n: usize) -> Vec<u32> {
    let n = n.max(1);
    let text = nfkc(text);
    let mut tokens: Vec<u64> = Vec::new();
    match kind {
        ShingleKind::Word => word_tokens(&text, &mut tokens),
        ShingleKind::Char => {
            let mut space = false;
            for c in text.chars().flat_map(char::to_lowercase) {
                if c.is_whitespace() {
                    space = !tokens.is_empty();
                    continue;
                }
                if space {
                    tokens.push(u64::from(' '));
                    space = false;
                }
                tokens.push(u64::from(c));
            }
        }
    }
    if tokens.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<u32> = if tokens.len() <= n {
        vec![hash_gram(&tokens)]
    } else {
        tokens.windows(n).map(hash_gram).collect()
    };
    sort_distinct(&mut out);
    out
}

/// [`ShingleKind::Word`]'s tokens, hashed: runs of ASCII letters and digits (and of the
/// ASCII between them) are found eight bytes at a time and hashed where they lie when
/// already lower case, CJK ideographs are taken from their lead bytes; only other
/// characters are decoded.
fn word_tokens(text: &str, tokens: &mut Vec<u64>) {
    let b = text.as_bytes();
    let mut word: Vec<u8> = Vec::with_capacity(32);
    let flush = |word: &mut Vec<u8>, tokens: &mut Vec<u64>| {
        if !word.is_empty() {
            tokens.push(xxh3_64(word));
            word.clear();
        }
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] >= 0x80 {
            if cjk_ideograph_at(b, i) {
                flush(&mut word, tokens);
                tokens.push(xxh3_64(&b[i..i + 3]));
                i += 3;
                continue;
            }
            let c = text[i..].chars().next().expect("i is a char boundary");
            if is_cjk(c) {
                flush(&mut word, tokens);
                tokens.push(xxh3_64(&b[i..i + c.len_utf8()]));
            } else if is_alphanumeric(c) {
                for l in c.to_lowercase() {
                    let mut buf = [0u8; 4];
                    word.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                }
            } else {
                flush(&mut word, tokens);
            }
            i += c.len_utf8();
            continue;
        }
        let (end, upper) = ascii_word_end(b, i);
        if end == i {
            flush(&mut word, tokens); // ASCII, neither letter nor digit
            i = separators_end(b, i + 1);
            continue;
        }
        // The word ends here unless a non-ASCII character (maybe a letter) follows.
        let ends = end == b.len() || b[end] < 0x80;
        if ends && word.is_empty() && !upper {
            tokens.push(xxh3_64(&b[i..end]));
        } else {
            word.extend(b[i..end].iter().map(u8::to_ascii_lowercase));
            if ends {
                flush(&mut word, tokens);
            }
        }
        i = end;
    }
    flush(&mut word, tokens);
}

const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` (little-endian) that is not an ASCII letter or digit.
#[inline]
fn not_alnum(x: u64) -> u64 {
    outside::<b'a', b'z'>(x | 0x2020_2020_2020_2020) & outside::<b'0', b'9'>(x)
}

/// From `i`, the end of the run of ASCII letters and digits, eight bytes at a time, and
/// whether it has an upper-case letter.
#[inline]
fn ascii_word_end(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut upper = 0u64;
    while let Some(block) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(block.try_into().expect("8"));
        let up = !outside::<b'A', b'Z'>(x) & HIGH;
        let stop = not_alnum(x);
        if stop != 0 {
            // The stop byte's high bit is bit 8k + 7; the bytes before it are bits below 8k.
            let k = stop.trailing_zeros() / 8;
            return (i + k as usize, upper | (up & ((1u64 << (8 * k)) - 1)) != 0);
        }
        upper |= up;
        i += 8;
    }
    let mut classes = u8::from(upper != 0) * UPPER;
    while i < b.len() && ASCII_WORD[usize::from(b[i])] != 0 {
        classes |= ASCII_WORD[usize::from(b[i])];
        i += 1;
    }
    (i, classes & UPPER != 0)
}

/// From `i`, the end of the run of ASCII bytes that are neither letters nor digits.
#[inline]
fn separators_end(b: &[u8], mut i: usize) -> usize {
    while let Some(block) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(block.try_into().expect("8"));
        let stop = (!not_alnum(x) | x) & HIGH;
        if stop != 0 {
            return i + stop.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while i < b.len() && b[i] < 0x80 && ASCII_WORD[usize::from(b[i])] == 0 {
        i += 1;
    }
    i
}

/// ASCII letters and digits for [`word_tokens`]: 0 for any other byte, [`UPPER`] for an
/// upper-case letter.
const UPPER: u8 = 2;
static ASCII_WORD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut x = 0;
    while x < 128 {
        t[x] = match x as u8 {
            b'A'..=b'Z' => UPPER,
            b'a'..=b'z' | b'0'..=b'9' => 1,
            _ => 0,
        };
        x += 1;
    }
    t
};

/// Sorts `v` and drops repeats. Long lists (a document's shingles) take a radix sort of
/// three 11-bit digits, several times cheaper than comparing; the order is the same.
fn sort_distinct(v: &mut Vec<u32>) {
    if v.len() < 512 {
        v.sort_unstable();
        v.dedup();
        return;
    }
    const BITS: u32 = 11;
    const MASK: u32 = (1 << BITS) - 1;
    let mut counts = [[0u32; 1 << BITS]; 3];
    for &x in v.iter() {
        for (d, c) in counts.iter_mut().enumerate() {
            c[((x >> (BITS * d as u32)) & MASK) as usize] += 1;
        }
    }
    let mut tmp = vec![0u32; v.len()];
    for (d, c) in counts.iter_mut().enumerate() {
        let mut sum = 0;
        for n in c.iter_mut() {
            (*n, sum) = (sum, sum + *n);
        }
        for &x in v.iter() {
            let slot = &mut c[((x >> (BITS * d as u32)) & MASK) as usize];
            tmp[*slot as usize] = x;
            *slot += 1;
        }
        std::mem::swap(v, &mut tmp);
    }
    v.dedup();
}

/// Order-sensitive mix of the n token hashes (each already an xxh3 value), finished with
/// the murmur3 64-bit finaliser.
fn hash_gram(g: &[u64]) -> u32 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for &t in g {
        h = (h.rotate_left(23) ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    h as u32
}

/// Jaccard similarity of two sorted, distinct sets.
pub fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_shingles_ignore_case_and_punctuation() {
        let a = shingles("The quick brown fox jumps!", ShingleKind::Word, 3);
        let b = shingles("the QUICK, brown   fox -- jumps", ShingleKind::Word, 3);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn chinese_gets_character_grams_in_word_mode() {
        let s = shingles("床前明月光，疑是地上霜。", ShingleKind::Word, 5);
        // 10 CJK characters, punctuation dropped: 6 distinct 5-grams.
        assert_eq!(s.len(), 6);
        let c = shingles("床前明月光", ShingleKind::Char, 2);
        assert_eq!(c.len(), 4);
    }

    /// The word tokens as they were found before the byte-level path: a character at a time.
    fn word_tokens_by_char(text: &str) -> Vec<u64> {
        let (mut tokens, mut word) = (Vec::new(), Vec::new());
        let flush = |word: &mut Vec<u8>, tokens: &mut Vec<u64>| {
            if !word.is_empty() {
                tokens.push(xxh3_64(word));
                word.clear();
            }
        };
        for c in text.chars() {
            if c.is_ascii() && c.is_ascii_alphanumeric() {
                word.push(c.to_ascii_lowercase() as u8);
            } else if c.is_ascii() {
                flush(&mut word, &mut tokens);
            } else if is_cjk(c) {
                flush(&mut word, &mut tokens);
                tokens.push(xxh3_64(c.to_string().as_bytes()));
            } else if c.is_alphanumeric() {
                word.extend(c.to_lowercase().collect::<String>().bytes());
            } else {
                flush(&mut word, &mut tokens);
            }
        }
        flush(&mut word, &mut tokens);
        tokens
    }

    proptest::proptest! {
        /// The byte-level word tokens are those of going a character at a time: ASCII runs
        /// in either case, next to accented and other-script letters (which continue a
        /// word), CJK characters, punctuation and spaces.
        #[test]
        fn word_tokens_equal_going_by_character(text in "[aZ9_ .,éÉİßΣ€床霜\\u{1F600}\\u{300}\\u{3400}\\u{4DC0}\\u{4DFF}\\u{4E00}\\u{9FFF}\\u{A000}，-]{0,40}") {
            let mut got = Vec::new();
            word_tokens(&text, &mut got);
            proptest::prop_assert_eq!(got, word_tokens_by_char(&text));
        }

        /// The same with every ASCII byte (the edges of the letter and digit ranges: `/`,
        /// `:`, `@`, `[`, `` ` ``, `{`, controls) in runs longer than eight.
        #[test]
        fn word_tokens_equal_going_by_character_any_ascii(text in "([\\x00-\\x7F]{0,19}[éÉ床]?){0,5}") {
            let mut got = Vec::new();
            word_tokens(&text, &mut got);
            proptest::prop_assert_eq!(got, word_tokens_by_char(&text));
        }

        /// Letter and digit runs and separator runs across the eight-byte blocks.
        #[test]
        fn word_tokens_equal_going_by_character_in_runs(
            text in "([a-zA-Z0-9]{0,20}[ .,\\n-]{0,12}(é|Ä|䷀|一|鿿)?){0,5}",
        ) {
            let mut got = Vec::new();
            word_tokens(&text, &mut got);
            proptest::prop_assert_eq!(got, word_tokens_by_char(&text));
        }

        /// The radix sort gives the comparison sort's order, around the length it starts at.
        #[test]
        fn sort_distinct_equals_sort_and_dedup(
            mut v in proptest::collection::vec(proptest::prop_oneof![0u32..600, proptest::num::u32::ANY], 0..1500),
        ) {
            let mut want = v.clone();
            want.sort_unstable();
            want.dedup();
            sort_distinct(&mut v);
            proptest::prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn short_and_empty_texts() {
        assert_eq!(shingles("two words", ShingleKind::Word, 5).len(), 1);
        assert!(shingles("  ... ", ShingleKind::Word, 5).is_empty());
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
    }
}

//! Gopher quality rules (Rae et al. 2021, table A1), defaults as in datatrove.

use std::sync::OnceLock;

use pipeline::chars::is_alphabetic;
use pipeline::{Doc, RowOut, RowStage, Verdict};
use serde::Deserialize;

use super::check_ratio;
use crate::analysis::Analyser;
use crate::text::{count_matches, for_each_py_line, is_punct};
#[cfg(test)]
use crate::words::words;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GopherQualityConfig {
    pub min_doc_words: usize,
    pub max_doc_words: usize,
    pub min_avg_word_length: f64,
    pub max_avg_word_length: f64,
    pub max_symbol_word_ratio: f64,
    pub max_bullet_lines_ratio: f64,
    pub max_ellipsis_lines_ratio: f64,
    pub max_non_alpha_words_ratio: f64,
    pub min_stop_words: usize,
    pub stop_words: Vec<String>,
    /// Skip the English-only rules (mean word length, stop words) on CJK text.
    pub cjk_aware: bool,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        GopherQualityConfig {
            min_doc_words: 50,
            max_doc_words: 100_000,
            min_avg_word_length: 3.0,
            max_avg_word_length: 10.0,
            max_symbol_word_ratio: 0.1,
            max_bullet_lines_ratio: 0.9,
            max_ellipsis_lines_ratio: 0.3,
            max_non_alpha_words_ratio: 0.8,
            min_stop_words: 2,
            stop_words: ["the", "be", "to", "of", "and", "that", "have", "with"]
                .map(String::from)
                .to_vec(),
            cjk_aware: true,
        }
    }
}

pub struct GopherQuality {
    c: GopherQualityConfig,
    stop: StopWords,
    analyser: Analyser,
}

/// The stop words, those of up to 8 bytes packed into integers: a word is compared with
/// each in one instruction instead of a `memcmp` call.
struct StopWords {
    short: Vec<(u64, usize)>,
    /// Bit `n` set when a short stop word has `n` bytes: other words skip the comparisons.
    short_lens: u16,
    long: Vec<String>,
}

impl StopWords {
    fn new(words: &[String]) -> Self {
        let (short, long): (Vec<&String>, Vec<&String>) = words.iter().partition(|w| w.len() <= 8);
        StopWords {
            short_lens: short.iter().fold(0, |m, w| m | 1 << w.len()),
            short: short
                .into_iter()
                .map(|w| (pack(w.as_bytes()), w.len()))
                .collect(),
            long: long.into_iter().cloned().collect(),
        }
    }

    fn contains(&self, w: &str) -> bool {
        match w.len() <= 8 {
            true => {
                self.short_lens & 1 << w.len() != 0
                    && self.short.contains(&(pack(w.as_bytes()), w.len()))
            }
            false => self.long.iter().any(|s| s == w),
        }
    }
}

/// Up to 8 bytes in one integer, zero-padded (compared with the length beside it, so `a`
/// and `a\0` differ). Two overlapping loads instead of a copy (a `memcpy` call, and a
/// stall reading back what it stored, were 40% of `check`).
fn pack(w: &[u8]) -> u64 {
    let n = w.len();
    debug_assert!(n <= 8);
    match n {
        0 => 0,
        1..=3 => {
            u64::from(w[0])
                | u64::from(w[n / 2]) << (n / 2 * 8)
                | u64::from(w[n - 1]) << ((n - 1) * 8)
        }
        _ => {
            let lo = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let hi = u32::from_le_bytes([w[n - 4], w[n - 3], w[n - 2], w[n - 1]]);
            u64::from(lo) | u64::from(hi) << ((n - 4) * 8)
        }
    }
}

impl GopherQuality {
    pub fn new(c: GopherQualityConfig) -> Result<Self, String> {
        for (n, v) in [
            ("max_bullet_lines_ratio", c.max_bullet_lines_ratio),
            ("max_ellipsis_lines_ratio", c.max_ellipsis_lines_ratio),
            ("max_non_alpha_words_ratio", c.max_non_alpha_words_ratio),
        ] {
            check_ratio(n, v)?;
        }
        if c.min_doc_words > c.max_doc_words {
            return Err("min_doc_words is larger than max_doc_words".into());
        }
        if c.min_avg_word_length > c.max_avg_word_length {
            return Err("min_avg_word_length is larger than max_avg_word_length".into());
        }
        Ok(GopherQuality {
            stop: StopWords::new(&c.stop_words),
            c,
            analyser: Analyser::standalone(),
        })
    }
}

impl RowStage for GopherQuality {
    fn name(&self) -> &str {
        "gopher_quality"
    }

    fn judge(&self, doc: Doc<'_>, _: &mut RowOut) -> Verdict {
        self.check(doc.text)
    }
}

impl super::Analysing for GopherQuality {
    fn analyser(&mut self) -> &mut Analyser {
        &mut self.analyser
    }
}

impl GopherQuality {
    /// This rule set's verdict on one text.
    pub fn check(&self, text: &str) -> Verdict {
        let c = &self.c;
        let doc = self.analyser.analyse(text);
        let words = doc.words;
        let n_words = words.len();
        let st = WordStats::of(&words, &self.stop);
        let n = st.non_symbol;
        if n < c.min_doc_words || n == 0 {
            return Verdict::drop("gopher_quality.short_doc");
        }
        if n > c.max_doc_words {
            return Verdict::drop("gopher_quality.long_doc");
        }
        let cjk = c.cjk_aware && doc.cjk;
        if !cjk {
            let avg = st.non_symbol_chars as f64 / n as f64;
            if avg < c.min_avg_word_length {
                return Verdict::drop("gopher_quality.below_avg_word_length");
            }
            if avg > c.max_avg_word_length {
                return Verdict::drop("gopher_quality.above_avg_word_length");
            }
        }
        let nw = n_words as f64;
        if count_matches(text, "#") as f64 / nw > c.max_symbol_word_ratio {
            return Verdict::drop("gopher_quality.too_many_hashes");
        }
        if (count_matches(text, "...") + count_matches(text, "…")) as f64 / nw
            > c.max_symbol_word_ratio
        {
            return Verdict::drop("gopher_quality.too_many_ellipsis");
        }
        // Both line rules from one pass over the lines.
        let (mut lines, mut bullets, mut ellipsis) = (0usize, 0usize, 0usize);
        for_each_py_line(text, |l| {
            let (start, end) = (l.trim_start(), l.trim_end());
            lines += 1;
            bullets += usize::from(start.starts_with('•') || start.starts_with('-'));
            ellipsis += usize::from(end.ends_with("...") || end.ends_with('…'));
        });
        let nl = lines.max(1) as f64;
        if bullets as f64 / nl > c.max_bullet_lines_ratio {
            return Verdict::drop("gopher_quality.too_many_bullets");
        }
        if ellipsis as f64 / nl > c.max_ellipsis_lines_ratio {
            return Verdict::drop("gopher_quality.too_many_end_ellipsis");
        }
        if (st.alpha as f64 / nw) < c.max_non_alpha_words_ratio {
            return Verdict::drop("gopher_quality.below_alpha_threshold");
        }
        if !cjk && st.stop < c.min_stop_words {
            return Verdict::drop("gopher_quality.stop_words");
        }
        Verdict::Keep
    }
}

/// What the word rules count, in one pass over the words (ASCII words without decoding).
#[derive(Debug, PartialEq)]
struct WordStats {
    /// Words with a character that is not punctuation, and their characters.
    non_symbol: usize,
    non_symbol_chars: usize,
    /// Words with a letter.
    alpha: usize,
    /// Words that are stop words.
    stop: usize,
}

impl WordStats {
    fn of(words: &[&str], stop_words: &StopWords) -> Self {
        let mut st = WordStats {
            non_symbol: 0,
            non_symbol_chars: 0,
            alpha: 0,
            stop: 0,
        };
        let classes = ascii_classes();
        for w in words {
            // Over the bytes without a branch: all punctuation (AND), any letter or non-ASCII
            // byte (OR).
            let (mut all, mut any) = (PUNCT, 0);
            for &x in w.as_bytes() {
                let c = classes[usize::from(x)];
                (all, any) = (all & c, any | c);
            }
            let (symbolic, chars, alpha) = match any & HIGH == 0 {
                true => (all & PUNCT != 0, w.len(), any & LETTER != 0),
                // A CJK ideograph is a word of one letter (`ideographs_are_letters`).
                false if w.len() == 3 && is_ideograph(w) => (false, 1, true),
                false => (
                    w.chars().all(is_punct),
                    w.chars().count(),
                    w.chars().any(is_alphabetic),
                ),
            };
            if !symbolic {
                st.non_symbol += 1;
                st.non_symbol_chars += chars;
            }
            st.alpha += usize::from(alpha);
            st.stop += usize::from(stop_words.contains(w));
        }
        st
    }
}

/// [`ascii_classes`]' bits: an ASCII punctuation character ([`is_punct`]), an ASCII letter,
/// a byte of a non-ASCII character.
const PUNCT: u8 = 1;
const LETTER: u8 = 2;
const HIGH: u8 = 4;

/// The class bits of every byte.
fn ascii_classes() -> &'static [u8; 256] {
    static TABLE: OnceLock<[u8; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|x| {
            let x = u8::try_from(x).expect("< 256");
            let bit = |on: bool, b: u8| if on { b } else { 0 };
            bit(!x.is_ascii(), HIGH)
                | bit(x.is_ascii() && is_punct(char::from(x)), PUNCT)
                | bit(x.is_ascii_alphabetic(), LETTER)
        })
    })
}

/// A one-character word in the CJK Unified Ideographs block (U+4E00..U+9FFF).
fn is_ideograph(w: &str) -> bool {
    let mut it = w.chars();
    matches!((it.next(), it.next()), (Some(c), None) if ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The one-pass counts equal the rules' plain definitions.
        #[test]
        fn word_stats_as_defined(t in "[a-zA-Z0-9 .,#…!?'é股票—@\\[`{/:_~\x7f\x1c\\-]{0,80}") {
            let ws = words(&t);
            let stop: Vec<String> = ["the", "and", "a"].iter().map(|s| s.to_string()).collect();
            let non_symbol: Vec<&&str> = ws.iter().filter(|w| w.chars().any(|ch| !is_punct(ch))).collect();
            let want = WordStats {
                non_symbol: non_symbol.len(),
                non_symbol_chars: non_symbol.iter().map(|w| w.chars().count()).sum(),
                alpha: ws.iter().filter(|w| w.chars().any(is_alphabetic)).count(),
                stop: ws.iter().filter(|w| stop.iter().any(|s| s == *w)).count(),
            };
            proptest::prop_assert_eq!(WordStats::of(&ws, &StopWords::new(&stop)), want);
        }
    }

    /// The ideograph shortcut in WordStats says what the general path would.
    #[test]
    fn ideographs_are_letters() {
        for c in '\u{4E00}'..='\u{9FFF}' {
            assert!(!is_punct(c) && c.is_alphabetic(), "{c:?}");
        }
    }

    proptest::proptest! {
        /// Packed stop words match exactly the words equal to one of them.
        #[test]
        fn stop_words_match_exactly(
            stop in proptest::collection::vec("[ab\\x00é]{1,10}", 1..5),
            w in "[ab\\x00é]{0,10}",
        ) {
            let s = StopWords::new(&stop);
            proptest::prop_assert_eq!(s.contains(&w), stop.contains(&w));
        }

        /// The overlapping loads pack what a zero-padded copy does.
        #[test]
        fn pack_as_a_padded_copy(w in proptest::collection::vec(proptest::num::u8::ANY, 0..=8)) {
            let mut b = [0u8; 8];
            b[..w.len()].copy_from_slice(&w);
            proptest::prop_assert_eq!(pack(&w), u64::from_le_bytes(b));
        }
    }

    fn g() -> GopherQuality {
        GopherQuality::new(GopherQualityConfig::default()).unwrap()
    }

    const PROSE: &str = "The committee met on Tuesday to review the proposal for a new library. \
        Members agreed that the current building is too small for the number of visitors and that \
        the reading rooms have become crowded. After a long discussion, they voted to ask the city \
        council for funding to begin the design work early next year, with construction to follow \
        if the budget allows it.";

    #[test]
    fn real_prose_passes() {
        assert_eq!(g().check(PROSE), Verdict::Keep);
    }

    #[test]
    fn each_rule_fires() {
        assert_eq!(
            g().check("Too short to be a document."),
            Verdict::drop("gopher_quality.short_doc")
        );
        let spam = "#buy #now #cheap #deals ".repeat(20) + PROSE;
        assert_eq!(
            g().check(&spam),
            Verdict::drop("gopher_quality.too_many_hashes")
        );
        let bullets = "- the item of the list\n".repeat(40);
        assert_eq!(
            g().check(&bullets),
            Verdict::drop("gopher_quality.too_many_bullets")
        );
        let numbers = "12 34 56 78 90 ".repeat(20);
        assert_eq!(
            g().check(&numbers),
            Verdict::drop("gopher_quality.below_avg_word_length")
        );
        let long = "incomprehensibilities ".repeat(60);
        assert_eq!(
            g().check(&long),
            Verdict::drop("gopher_quality.above_avg_word_length")
        );
        let no_stop = "Apples bananas cherries dates elderberries figs grapes. ".repeat(10);
        assert_eq!(
            g().check(&no_stop),
            Verdict::drop("gopher_quality.stop_words")
        );
        let trailing = "and then the story went on...\n".repeat(20);
        assert_eq!(
            g().check(&trailing),
            Verdict::drop("gopher_quality.too_many_ellipsis")
        );
    }

    #[test]
    fn chinese_prose_is_not_judged_by_english_word_rules() {
        let zh = "中国人民银行今天宣布，将下调金融机构存款准备金率零点五个百分点，\
            以保持银行体系流动性合理充裕。分析人士认为，这一举措有助于降低实体经济的融资成本，\
            支持小微企业和民营企业发展。股票市场对此反应积极，上证指数收盘上涨百分之一点二。";
        assert_eq!(g().check(zh), Verdict::Keep);
        let strict = GopherQualityConfig {
            cjk_aware: false,
            ..Default::default()
        };
        assert_ne!(GopherQuality::new(strict).unwrap().check(zh), Verdict::Keep);
        // Chinese spam still fails: symbols, not words.
        let spam = "【广告】！！！###￥￥￥ ".repeat(30);
        assert_ne!(g().check(&spam), Verdict::Keep);
    }
}

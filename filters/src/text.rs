//! Character classes and splitting rules shared by the filters: punctuation sets, CJK
//! detection, and line/paragraph splitting with the semantics of the reference tools.

use std::collections::HashSet;
use std::sync::OnceLock;

use pipeline::chars::{is_alphabetic, Bmp};
use pipeline::scan::{cjk_ideograph_at, skip_below_or_high};

fn parse_codepoints(data: &str) -> HashSet<char> {
    data.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let hex = l.trim().trim_start_matches("U+");
            char::from_u32(u32::from_str_radix(hex, 16).expect("hex code point"))
                .expect("valid char")
        })
        .collect()
}

/// Punctuation and control characters: a token of only these is a symbol, not a word.
pub fn is_punct(c: char) -> bool {
    static SET: OnceLock<CharSet> = OnceLock::new();
    SET.get_or_init(|| CharSet::new(include_str!("../data/punctuation.txt")))
        .contains(c)
}

/// Sentence-terminal punctuation (Unicode Sentence_Terminal), incl. `。！？`.
pub fn is_terminal_punct(c: char) -> bool {
    static SET: OnceLock<CharSet> = OnceLock::new();
    SET.get_or_init(|| CharSet::new(include_str!("../data/terminal_punctuation.txt")))
        .contains(c)
}

/// A set of characters with the Basic Multilingual Plane answered from a bitmap (8 KB).
pub(crate) struct CharSet {
    bmp: Bmp,
    /// The members above the BMP.
    rest: HashSet<char>,
}

impl CharSet {
    fn new(list: &str) -> Self {
        Self::of(parse_codepoints(list))
    }

    /// The set of `chars`.
    pub(crate) fn of(chars: impl IntoIterator<Item = char>) -> Self {
        let chars: Vec<char> = chars.into_iter().collect();
        CharSet {
            bmp: Bmp::from_chars(chars.iter().copied()),
            rest: chars
                .into_iter()
                .filter(|&c| c as u32 >= 0x1_0000)
                .collect(),
        }
    }

    pub(crate) fn contains(&self, c: char) -> bool {
        self.bmp.get(c).unwrap_or_else(|| self.rest.contains(&c))
    }
}

pub use pipeline::document::is_cjk;

/// `x.is_ascii_alphabetic()` without branches.
fn ascii_letter(x: u8) -> bool {
    (x | 0x20).wrapping_sub(b'a') < 26
}

/// The smallest UTF-8 lead byte of a character `is_cjk` takes (U+3040 is E3 81 80).
const CJK_MIN_LEAD: u8 = 0xE3;

/// Whether any byte is `min` or more, 32 bytes at a time (a loop the compiler vectorises).
fn has_byte_from(b: &[u8], min: u8) -> bool {
    let mut chunks = b.chunks_exact(32);
    let hit = |c: &[u8]| c.iter().fold(0u8, |a, &x| a.max(x)) >= min;
    chunks.any(hit) || hit(chunks.remainder())
}

/// True when at least 30% of the letters are CJK: English word rules (mean word length,
/// English stop words) do not apply to such text.
pub fn is_cjk_text(text: &str) -> bool {
    let b = text.as_bytes();
    if !has_byte_from(b, CJK_MIN_LEAD) {
        return false;
    }
    let (mut letters, mut cjk) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if x < 0x80 {
            // ASCII: 32 bytes at a time while it lasts, in a loop the compiler vectorises.
            match b.get(i..i + 32) {
                Some(chunk) if !has_byte_from(chunk, 0x80) => {
                    letters += chunk
                        .iter()
                        .map(|&x| usize::from(ascii_letter(x)))
                        .sum::<usize>();
                    i += 32;
                }
                _ => {
                    letters += usize::from(ascii_letter(x));
                    i += 1;
                }
            }
            continue;
        }
        if cjk_ideograph_at(b, i) {
            (cjk, letters, i) = (cjk + 1, letters + 1, i + 3);
            continue;
        }
        let c = text[i..].chars().next().expect("a character starts here");
        if is_cjk(c) {
            cjk += 1;
            letters += 1;
        } else if is_alphabetic(c) {
            letters += 1;
        }
        i += c.len_utf8();
    }
    letters > 0 && cjk * 10 >= letters * 3
}

/// Python's `str.splitlines()`: splits on \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028/9.
pub fn py_splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_py_line(text, |l| out.push(l));
    out
}

/// Calls `f` with each line [`py_splitlines`] returns, in order, without collecting them.
pub fn for_each_py_line<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let b = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        // Past the bytes that can start no break (all but controls and non-ASCII bytes).
        i = skip_below_or_high::<0x1F>(b, i);
        if i == b.len() {
            break;
        }
        // The breaks' UTF-8: ASCII controls, U+0085 (C2 85), U+2028/2029 (E2 80 A8/A9). A
        // lead byte is never a continuation byte, so the scan needs no decoding.
        let len = match b[i] {
            b'\n' | b'\x0b' | b'\x0c' | b'\x1c' | b'\x1d' | b'\x1e' => 1,
            b'\r' => 1 + usize::from(b.get(i + 1) == Some(&b'\n')),
            0xC2 if b.get(i + 1) == Some(&0x85) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
            _ => {
                i += 1;
                continue;
            }
        };
        f(&text[start..i]);
        i += len;
        start = i;
    }
    if start < b.len() {
        f(&text[start..]);
    }
}

/// Splits on runs of `\n` of at least `min_run` (`re.split("\n{min_run,}")`).
pub fn split_newline_runs(text: &str, min_run: usize) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while let Some(at) = memchr::memchr(b'\n', &b[i..]) {
        let run_start = i + at;
        let run = b[run_start..].iter().take_while(|&&x| x == b'\n').count();
        if run >= min_run {
            out.push(&text[start..run_start]);
            start = run_start + run;
        }
        i = run_start + run;
    }
    out.push(&text[start..]);
    out
}

/// Number of code points (Python's `len`).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Non-overlapping occurrences of `pat` (Python's `str.count`).
pub fn count_matches(text: &str, pat: &str) -> usize {
    // Non-overlapping, as `str::matches`; SIMD search instead of the two-way searcher.
    memchr::memmem::find_iter(text.as_bytes(), pat.as_bytes()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitmaps answer as their definitions do, for every code point (those above the BMP
    /// go to the definitions themselves).
    #[test]
    fn bitmaps_answer_as_defined() {
        let list = [
            'a',
            '.',
            '，',
            '\u{3000}',
            '\u{FFFF}',
            '\u{10000}',
            '\u{1F600}',
        ];
        let set = CharSet::of(list);
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(set.contains(c), list.contains(&c), "{c:?}");
        }
    }

    proptest::proptest! {
        /// The byte scan splits where Python's `str.splitlines()` does.
        #[test]
        fn splitlines_as_python(t in "[a\n\r\x0b\x0c\x1c\x1d\x1e\x1f\u{85}\u{2028}\u{2029}\u{2027}\u{145}é]{0,30}") {
            let breaks = ['\n', '\r', '\x0b', '\x0c', '\x1c', '\x1d', '\x1e', '\u{85}', '\u{2028}', '\u{2029}'];
            let mut want = vec![];
            let mut rest = t.as_str();
            while let Some(at) = rest.find(breaks) {
                want.push(&rest[..at]);
                let crlf = rest[at..].starts_with("\r\n");
                let c = rest[at..].chars().next().unwrap();
                rest = &rest[at + if crlf { 2 } else { c.len_utf8() }..];
            }
            if !rest.is_empty() {
                want.push(rest);
            }
            proptest::prop_assert_eq!(py_splitlines(&t), want);
        }

        /// The SIMD search counts what `str::matches` counts (non-overlapping).
        #[test]
        fn count_matches_as_str_matches(t in "[a.…#b]{0,40}", p in proptest::sample::select(vec!["...", "…", "#", "..", "a.a"])) {
            proptest::prop_assert_eq!(count_matches(&t, p), t.matches(p).count());
        }

        /// Runs of newlines split as `re.split("\n{min_run,}")` does.
        #[test]
        fn newline_runs_as_re_split(t in "[ab\n]{0,30}", min_run in 1usize..4) {
            let re = regex::Regex::new(&format!("\n{{{min_run},}}")).unwrap();
            proptest::prop_assert_eq!(split_newline_runs(&t, min_run), re.split(&t).collect::<Vec<_>>());
        }

        /// The byte-level scan counts as the plain character loop does.
        #[test]
        fn cjk_share_as_by_characters(t in "[a-zA-Z0-9 .,é股票代码线图ñ\\n@\\[`{カ한𠀀〿\u{3040}“\u{4dbf}\u{4dc0}\u{4fff}\u{5000}\u{9fff}\u{a000}]{0,200}") {
            let (mut letters, mut cjk) = (0usize, 0usize);
            for c in t.chars() {
                if is_cjk(c) { cjk += 1; letters += 1; } else if c.is_alphabetic() { letters += 1; }
            }
            proptest::prop_assert_eq!(is_cjk_text(&t), letters > 0 && cjk * 10 >= letters * 3);
        }
    }

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(py_splitlines("a\nb\r\nc\rd\n"), vec!["a", "b", "c", "d"]);
        assert_eq!(py_splitlines("a\n\nb"), vec!["a", "", "b"]);
        assert_eq!(py_splitlines(""), Vec::<&str>::new());
        assert_eq!(py_splitlines("x\u{2028}y"), vec!["x", "y"]);
    }

    #[test]
    fn newline_runs_match_re_split() {
        assert_eq!(
            split_newline_runs("a\n\nb\nc\n\n\nd", 2),
            vec!["a", "b\nc", "d"]
        );
        assert_eq!(split_newline_runs("a\nb", 1), vec!["a", "b"]);
        assert_eq!(split_newline_runs("\na", 1), vec!["", "a"]);
    }

    #[test]
    fn character_classes() {
        assert!(is_punct('.') && is_punct('，') && is_punct('\x07') && !is_punct('a'));
        assert!(is_terminal_punct('。') && is_terminal_punct('?') && !is_terminal_punct(','));
        assert!(is_cjk('股') && is_cjk('カ') && !is_cjk('a'));
        assert!(is_cjk_text("股票代码 K线图 is here"));
        assert!(!is_cjk_text("The price of 股票 rose today in the market"));
        assert_eq!(count_matches("a....b", "..."), 1);
    }
}

//! Text normalisation before hashing: NFKC, lower case, whitespace runs collapsed, so that
//! copies differing only in case, width forms or spacing hash alike.
//!
//! NFKC is computed piecewise ([`nfkc`]): text is cut before each character that nothing
//! around it can change (UAX #15's boundary: a starter that is NFKC_QC=Yes), and only the
//! pieces holding a character that may change go through the normaliser. The result is the
//! whole text's NFKC, byte for byte; the tests compare it with `UnicodeNormalization::nfkc`.

use std::borrow::Cow;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Whether NFKC may cut the text before `c`: a starter (combining class 0) that is
/// NFKC_QC=Yes neither changes nor combines with anything before it.
fn boundary_before(c: char) -> bool {
    c.is_ascii()
        || (canonical_combining_class(c) == 0
            && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes)
}

/// `text` in NFKC, borrowed when it already is (always for ASCII).
pub fn nfkc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let b = text.as_bytes();
    // text[..copied] is in `out`; `seg` is the last boundary at or before `pos`.
    let (mut copied, mut seg, mut pos) = (0, 0, 0);
    while pos < b.len() {
        if b[pos].is_ascii() {
            pos += b[pos..]
                .iter()
                .position(|x| !x.is_ascii())
                .unwrap_or(b.len() - pos);
            seg = pos - 1;
            continue;
        }
        let c = next_char(text, pos);
        if boundary_before(c) {
            seg = pos;
            pos += c.len_utf8();
            continue;
        }
        let mut end = pos + c.len_utf8();
        while end < b.len() && !boundary_before(next_char(text, end)) {
            end += next_char(text, end).len_utf8();
        }
        out.push_str(&text[copied..seg]);
        out.extend(text[seg..end].nfkc());
        (copied, seg, pos) = (end, end, end);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn next_char(text: &str, pos: usize) -> char {
    text[pos..].chars().next().expect("pos is inside the text")
}

/// NFKC, lower case, whitespace runs as one space, no leading or trailing whitespace.
pub fn normalize_for_hash(text: &str) -> String {
    let text = nfkc(text);
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut push = |c: char, out: &mut String| {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    };
    for c in text.chars() {
        if c.is_ascii() {
            push(c.to_ascii_lowercase(), &mut out);
        } else {
            for l in c.to_lowercase() {
                push(l, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: the whole text through the normaliser, then lower case and spacing.
    fn plain(text: &str) -> String {
        let mut out = String::new();
        let mut pending_space = false;
        for c in text.nfkc().flat_map(char::to_lowercase) {
            if c.is_whitespace() {
                pending_space = !out.is_empty();
            } else {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn case_width_and_spacing_do_not_matter() {
        assert_eq!(normalize_for_hash("  Hello\t\nWORLD  "), "hello world");
        assert_eq!(normalize_for_hash("ＡＢＣ　股票"), "abc 股票");
        assert_ne!(
            normalize_for_hash("hello world"),
            normalize_for_hash("hello, world")
        );
    }

    #[test]
    fn pieces_that_combine_across_a_cut_are_normalised_together() {
        // A letter and a combining accent after it, Hangul jamo, a reordered mark pair, a
        // compatibility character after a starter, and one at the very start.
        for s in [
            "cafe\u{301} ok",
            "\u{1100}\u{1161}\u{11A8}",
            "\u{AC00}\u{11A8}x",
            "a\u{323}\u{302}b\u{302}\u{323}",
            "床前明月光，疑是地上霜。",
            "\u{301}start",
            "ﬁne ﬂow Ⅻ ㎏ ½",
            "\u{0B47}\u{0B3E}\u{0B4B}",
        ] {
            assert_eq!(nfkc(s), s.nfkc().collect::<String>(), "{s:?}");
            assert_eq!(normalize_for_hash(s), plain(s), "{s:?}");
        }
        assert!(matches!(nfkc("plain text, “quoted”"), Cow::Borrowed(_)));
    }

    /// Characters where the piecewise cut matters: ASCII, combining marks of several
    /// classes, Hangul jamo and syllables, compatibility and width forms, characters whose
    /// decomposition starts with a non-starter, composing vowel signs, CJK and spaces.
    fn tricky() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                'a',
                'e',
                'A',
                'Z',
                ' ',
                '\n',
                '\t',
                '0',
                '.',
                ',',
                'ß',
                'İ',
                'Σ',
                'é',
                'ǅ',
                'ﬁ',
                'Å',
                'Ω',
                'K',
                '½',
                '①',
                'Ⅻ',
                '㎏',
                '，',
                '。',
                '股',
                '床',
                '\u{3000}',
                '\u{A0}',
                '\u{2028}',
                '\u{300}',
                '\u{301}',
                '\u{302}',
                '\u{308}',
                '\u{323}',
                '\u{327}',
                '\u{345}',
                '\u{344}',
                '\u{F73}',
                '\u{F71}',
                '\u{F72}',
                '\u{1100}',
                '\u{1161}',
                '\u{11A8}',
                '\u{AC00}',
                '\u{AC01}',
                '\u{0B47}',
                '\u{0B3E}',
                '\u{0B56}',
                '\u{09C7}',
                '\u{09BE}',
                '\u{0CC6}',
                '\u{0CC2}',
                '\u{0CD5}',
                '\u{FF76}',
                '\u{FF9E}',
                '\u{3099}',
                '\u{304B}',
                '\u{1E0A}',
                '\u{0344}',
                '\u{2126}',
                '\u{212B}',
                '\u{0340}',
                '\u{0958}',
                '\u{FB1D}',
                '\u{1D15E}',
            ]),
            any::<char>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn piecewise_nfkc_is_the_whole_texts_nfkc(v in prop::collection::vec(tricky(), 0..24)) {
            let s: String = v.into_iter().collect();
            let whole: String = s.nfkc().collect();
            let piecewise = nfkc(&s);
            prop_assert_eq!(piecewise.as_ref(), whole.as_str());
            prop_assert_eq!(normalize_for_hash(&s), plain(&s));
        }
    }

    /// Every code point after an ASCII letter and before a combining accent, the contexts
    /// where a cut in the wrong place shows.
    #[test]
    fn every_code_point_in_context() {
        for c in (0u32..0x3_0000).filter_map(char::from_u32) {
            for s in [format!("e{c}\u{301}"), format!("\u{1100}{c}\u{11A8}a{c}")] {
                assert_eq!(nfkc(&s), s.nfkc().collect::<String>(), "U+{:04X}", c as u32);
            }
        }
    }
}

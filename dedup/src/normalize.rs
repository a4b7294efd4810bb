//! Text normalisation before hashing: NFKC, lower case, whitespace runs collapsed, so that
//! copies differing only in case, width forms or spacing hash alike.
//!
//! NFKC is computed piecewise ([`nfkc`]): text is cut before each character that nothing
//! around it can change (UAX #15's boundary: a starter that is NFKC_QC=Yes), and only the
//! pieces holding a character that may change go through the normaliser. The result is the
//! whole text's NFKC, byte for byte; the tests compare it with `UnicodeNormalization::nfkc`.
//! CJK ideographs are recognised from their lead bytes, the fullwidth ASCII forms are mapped
//! without the normaliser, and other characters below U+10000 take their answers from bit
//! tables ([`pipeline::chars::CharTable`]).

use std::borrow::Cow;

use pipeline::chars::CharTable;
use pipeline::scan::{cjk_ideograph_at, skip_below_or_high};
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Whether NFKC may cut the text before `c`: a starter (combining class 0) that is
/// NFKC_QC=Yes neither changes nor combines with anything before it.
#[inline]
fn boundary_before(c: char) -> bool {
    static TABLE: CharTable = CharTable::new(boundary_from_tables);
    TABLE.get(c)
}

fn boundary_from_tables(c: char) -> bool {
    canonical_combining_class(c) == 0 && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes
}

/// Whether [`normalize_for_hash`] writes `c` as it is: its own lower case, not whitespace.
#[inline]
fn kept_as_is(c: char) -> bool {
    static TABLE: CharTable = CharTable::new(kept_from_tables);
    TABLE.get(c)
}

fn kept_from_tables(c: char) -> bool {
    !c.is_whitespace() && c.to_lowercase().eq(std::iter::once(c))
}

/// [`boundary_before`] of the character at byte `i`.
#[inline]
fn boundary_at(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    b[i].is_ascii() || cjk_ideograph_at(b, i) || boundary_before(next_char(text, i))
}

/// The ASCII character NFKC makes of `c` on its own, for the forms CJK text uses most: the
/// fullwidth ASCII forms (U+FF01..U+FF5E, `<wide>` of U+0021..U+007E) and the ideographic
/// space (U+3000, `<wide>` of U+0020). No canonical composition has an ASCII second
/// character, so the result does not combine with the starter before it.
#[inline]
fn wide_ascii(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21),
        '\u{3000}' => Some(' '),
        _ => None,
    }
}

/// `text` in NFKC, borrowed when it already is (always for ASCII).
pub fn nfkc(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    // text[..copied] is in `out`; `seg` is the last boundary at or before `pos`.
    let (mut copied, mut seg, mut pos) = (0, 0, 0);
    while pos < b.len() {
        if b[pos].is_ascii() {
            pos += ascii_prefix(&b[pos..]);
            seg = pos - 1;
            continue;
        }
        if cjk_ideograph_at(b, pos) {
            (seg, pos) = (pos, pos + 3);
            continue;
        }
        let c = next_char(text, pos);
        if boundary_before(c) {
            seg = pos;
            pos += c.len_utf8();
            continue;
        }
        let mut end = pos + c.len_utf8();
        while end < b.len() && !boundary_at(text, end) {
            end += next_char(text, end).len_utf8();
        }
        let o = out.get_or_insert_with(|| String::with_capacity(text.len() + text.len() / 8));
        match wide_ascii(c) {
            // Alone before a boundary, it cannot combine with the starter before it either.
            Some(a) if end == pos + c.len_utf8() => {
                o.push_str(&text[copied..pos]);
                o.push(a);
            }
            _ => {
                o.push_str(&text[copied..seg]);
                o.extend(text[seg..end].nfkc());
            }
        }
        (copied, seg, pos) = (end, end, end);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// The length of `b`'s leading run of ASCII bytes, eight at a time.
fn ascii_prefix(b: &[u8]) -> usize {
    let i = skip_below_or_high::<0>(b, 0);
    i + b[i..].iter().take_while(|x| x.is_ascii()).count()
}

fn next_char(text: &str, pos: usize) -> char {
    text[pos..].chars().next().expect("pos is inside the text")
}

/// NFKC, lower case, whitespace runs as one space, no leading or trailing whitespace.
pub fn normalize_for_hash(text: &str) -> String {
    let text = nfkc(text);
    let b = text.as_bytes();
    let mut out = Collapsed {
        out: Vec::with_capacity(b.len()),
        pending_space: false,
    };
    let mut pos = 0;
    while pos < b.len() {
        if let Some(lower) = b.get(pos..pos + 8).and_then(plain_ascii_lowered) {
            out.push(&lower.to_le_bytes());
            pos += 8;
            continue;
        }
        let x = b[pos];
        if x.is_ascii() {
            pos += 1;
            match x {
                _ if ascii_space(x) => {
                    while b.get(pos).is_some_and(|&x| ascii_space(x)) {
                        pos += 1;
                    }
                    out.space();
                }
                _ => out.push(&[x.to_ascii_lowercase()]),
            }
            continue;
        }
        if cjk_ideograph_at(b, pos) {
            let start = pos;
            pos += 3;
            while pos < b.len() && cjk_ideograph_at(b, pos) {
                pos += 3;
            }
            out.push(&b[start..pos]);
            continue;
        }
        let c = next_char(&text, pos);
        let bytes = &b[pos..pos + c.len_utf8()];
        pos += bytes.len();
        if kept_as_is(c) {
            out.push(bytes);
            continue;
        }
        for l in c.to_lowercase() {
            match l.is_whitespace() {
                true => out.space(),
                false => out.push(l.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }
    debug_assert!(std::str::from_utf8(&out.out).is_ok());
    // SAFETY: `out` holds whole characters of `text` (a str), ASCII bytes and the UTF-8
    // encodings of chars, so it is valid UTF-8.
    unsafe { String::from_utf8_unchecked(out.out) }
}

/// ASCII whitespace as `char::is_whitespace` has it: tab to carriage return, and space.
fn ascii_space(x: u8) -> bool {
    matches!(x, b'\t'..=b'\r' | b' ')
}

/// Text with each whitespace run as one space between words and none at either end.
struct Collapsed {
    out: Vec<u8>,
    pending_space: bool,
}

impl Collapsed {
    fn space(&mut self) {
        self.pending_space = !self.out.is_empty();
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.pending_space {
            self.out.push(b' ');
            self.pending_space = false;
        }
        self.out.extend_from_slice(bytes);
    }
}

/// Eight ASCII bytes lower-cased, when they go to the output as they are but for case: no
/// byte below 0x0E (tab to carriage return are whitespace), no space first or last and no two
/// spaces together. Word-at-a-time tests that may say no to a chunk that would pass, never
/// the other way.
fn plain_ascii_lowered(chunk: &[u8]) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
    let below_0e = w.wrapping_sub(ONES * 0x0E) & !w & HIGH;
    let not_space = w ^ (ONES * 0x20);
    let space = not_space.wrapping_sub(ONES) & !not_space & HIGH;
    let edges = 0x80 | (0x80 << 56);
    if w & HIGH != 0 || below_0e != 0 || space & edges != 0 || space & (space >> 8) != 0 {
        return None;
    }
    // Bytes from 'A' to 'Z' get 0x20 (no carries: every byte is below 0x80).
    let from_a = w + ONES * (0x80 - u64::from(b'A'));
    let past_z = w + ONES * (0x80 - u64::from(b'Z') - 1);
    Some(w | (((from_a ^ past_z) & HIGH) >> 2))
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
                '\r',
                '\x0b',
                '\x0c',
                '\x1c',
                '\x1f',
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
                '\u{FF01}',
                '\u{FF21}',
                '\u{FF41}',
                '\u{FF5E}',
                '\u{FF5F}',
                '\u{4DC0}',
                '\u{4DFF}',
                '\u{4E00}',
                '\u{9FFF}',
                '\u{A000}',
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Mostly ASCII, where whole eight-byte chunks take the word-at-a-time path: letters
        /// of both cases, the characters around them ('@', '[', '`', '{'), spaces in runs and
        /// every ASCII whitespace and control character.
        #[test]
        fn ascii_text_is_normalised_as_defined(
            s in "([ -~]|  |\t|\n|\x0b|\x0c|\r|\x01|\x0e|\x1f){0,60}(é|İ|股|\u{301}|Ｋ)?[ @-\\`-{A-Za-z]{0,30}"
        ) {
            prop_assert_eq!(normalize_for_hash(&s), plain(&s));
        }
    }

    /// Every code point after an ASCII letter and before a combining accent, the contexts
    /// where a cut in the wrong place shows, and alone between starters (where the
    /// fullwidth forms take their shortcut).
    #[test]
    fn every_code_point_in_context() {
        for c in (0u32..0x3_0000).filter_map(char::from_u32) {
            for s in [
                format!("e{c}\u{301}"),
                format!("\u{1100}{c}\u{11A8}a{c}"),
                format!("{c}b{c}股{c}"),
            ] {
                assert_eq!(nfkc(&s), s.nfkc().collect::<String>(), "U+{:04X}", c as u32);
                assert_eq!(normalize_for_hash(&s), plain(&s), "U+{:04X}", c as u32);
            }
        }
    }
}

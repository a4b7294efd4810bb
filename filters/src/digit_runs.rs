//! Where a number-shaped pattern can match: the maximal runs of digits and a pattern's own
//! separators that hold enough digits. `pii` runs its card, phone and IPv4 regexes on these
//! runs instead of the whole text (digits are a few percent of prose), with the same matches:
//! no match can hold a character outside the run's alphabet, so none crosses a run's edge,
//! and a run with fewer digits than any match needs has none.
//!
//! `\d` in a Unicode regex is any decimal digit (`\p{Nd}`); a run takes every non-ASCII
//! character that `char::is_numeric` accepts (a superset) as a digit, so a run is never
//! shorter, nor its count lower, than the regex could need.

use pipeline::scan::cjk_ideograph_at;

/// The runs of ASCII digits, non-ASCII numeric characters and the bytes of `separators`
/// that hold at least `min_digits` digits.
#[derive(Clone, Copy)]
pub struct DigitRuns {
    pub separators: &'static [u8],
    pub min_digits: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

impl DigitRuns {
    /// `(start, end)` byte offsets of each qualifying run of `text`, in order.
    pub fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(d) = next_digit(text, pos) {
            let mut start = d;
            while start > pos && self.separators.contains(&b[start - 1]) {
                start -= 1;
            }
            let (mut end, mut digits) = (d, 0);
            while end < b.len() {
                end += match b[end] {
                    x if x.is_ascii_digit() => {
                        digits += 1;
                        1
                    }
                    x if self.separators.contains(&x) => 1,
                    x if !x.is_ascii() => {
                        let c = char_at(text, end);
                        if !maybe_digit(c) {
                            break;
                        }
                        digits += 1;
                        c.len_utf8()
                    }
                    _ => break,
                };
            }
            if digits >= self.min_digits {
                out.push((start, end));
            }
            pos = end;
        }
        out
    }
}

/// The first ASCII digit or non-ASCII numeric character at or after `pos`. Eight bytes at a
/// time while they are all ASCII non-digits.
fn next_digit(text: &str, mut pos: usize) -> Option<usize> {
    let b = text.as_bytes();
    while pos < b.len() {
        if let Some(chunk) = b.get(pos..pos + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            if w & HIGH == 0 && ascii_digits(w) == 0 {
                pos += 8;
                continue;
            }
        }
        if b[pos].is_ascii_digit() {
            return Some(pos);
        }
        if b[pos].is_ascii() {
            pos += 1;
            continue;
        }
        // Chinese text is mostly these, and none is a digit.
        if cjk_ideograph_at(b, pos) {
            pos += 3;
            continue;
        }
        let c = char_at(text, pos);
        if maybe_digit(c) {
            return Some(pos);
        }
        pos += c.len_utf8();
    }
    None
}

/// High bits of the bytes of `w` (all below 0x80) that are '0'..='9'.
fn ascii_digits(w: u64) -> u64 {
    let at_least_0 = w + ONES * (0x80 - u64::from(b'0'));
    let past_9 = w + ONES * (0x80 - u64::from(b'9') - 1);
    (at_least_0 ^ past_9) & HIGH
}

/// The character starting at byte `pos` (every position these scans reach starts one).
fn char_at(text: &str, pos: usize) -> char {
    text[pos..].chars().next().expect("a character starts here")
}

/// Whether the non-ASCII `c` may be a decimal digit.
fn maybe_digit(c: char) -> bool {
    !('\u{4E00}'..='\u{9FFF}').contains(&c) && pipeline::chars::is_numeric(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_hold_enough_digits_and_stop_at_other_characters() {
        let card = DigitRuns {
            separators: b" -",
            min_digits: 4,
        };
        let text = "call 12-34 or 5 6 7 8, not 123x; ４５６７ and ٣٣٣٣ 股票 12345";
        let runs: Vec<&str> = card.find(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(
            runs,
            [" 12-34 ", " 5 6 7 8", " ４５６７ ", " ٣٣٣٣ ", " 12345"]
        );
        assert!(card.find("no digits here at all, only words").is_empty());
    }

    proptest::proptest! {
        /// The first digit is the first character that is an ASCII digit or may be one,
        /// looked at one by one: around the ideograph range's edges (U+4DFF, U+4E00, U+9FFF,
        /// U+A000), numeric CJK-area characters (〇, full-width ４) and other scripts.
        #[test]
        fn next_digit_is_the_first_character_that_may_be_one(
            text in "[a 5.\u{4DFF}\u{4E00}\u{4E8C}\u{9FFF}\u{A000}\u{3007}\u{FF14}\u{663}é]{0,30}",
        ) {
            let want = text
                .char_indices()
                .find(|&(_, c)| c.is_ascii_digit() || (!c.is_ascii() && maybe_digit(c)))
                .map(|(i, _)| i);
            proptest::prop_assert_eq!(next_digit(&text, 0), want);
        }
    }

    #[test]
    fn eight_byte_skip_finds_a_digit_in_any_position() {
        for at in 0..20 {
            let mut t = "abcdefghijklmnopqrstuvwxyz".to_string();
            t.replace_range(at..at + 1, "7");
            assert_eq!(next_digit(&t, 0), Some(at), "{t}");
        }
    }
}

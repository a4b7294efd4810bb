//! Character properties answered from bit tables for the Basic Multilingual Plane: the
//! standard library and the Unicode crates search a table for each non-ASCII character,
//! which text outside ASCII and CJK (punctuation, Cyrillic, Greek, kana) pays per character.
//! Each table (8 KB) is worked out once, from the function it stands for.

use std::sync::OnceLock;

/// One bit per code point below U+10000.
pub struct Bmp(Box<[u64; 1024]>);

impl Bmp {
    /// The bitmap of the BMP characters among `chars` (others are left out).
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for c in chars.into_iter().filter(|&c| (c as u32) < 0x1_0000) {
            bits[c as usize / 64] |= 1 << (c as u32 % 64);
        }
        Bmp(bits)
    }

    /// The bitmap of the BMP characters `f` holds for.
    pub fn of(f: impl Fn(char) -> bool) -> Self {
        Self::from_chars((0..0x1_0000).filter_map(char::from_u32).filter(|&c| f(c)))
    }

    /// `None` above the BMP.
    #[inline]
    pub fn get(&self, c: char) -> Option<bool> {
        let i = c as usize;
        (i < 0x1_0000).then(|| self.0[i / 64] >> (i % 64) & 1 == 1)
    }
}

/// A character predicate with the BMP answered from a bit table, worked out from the
/// predicate on first use; characters above the BMP go to the predicate itself.
pub struct CharTable {
    f: fn(char) -> bool,
    bits: OnceLock<Bmp>,
}

impl CharTable {
    pub const fn new(f: fn(char) -> bool) -> Self {
        CharTable {
            f,
            bits: OnceLock::new(),
        }
    }

    /// `f(c)`.
    #[inline]
    pub fn get(&self, c: char) -> bool {
        let bits = self.bits.get_or_init(|| Bmp::of(self.f));
        bits.get(c).unwrap_or_else(|| (self.f)(c))
    }
}

/// `char::is_alphabetic`.
#[inline]
pub fn is_alphabetic(c: char) -> bool {
    static TABLE: CharTable = CharTable::new(char::is_alphabetic);
    match c.is_ascii() {
        true => c.is_ascii_alphabetic(),
        false => TABLE.get(c),
    }
}

/// `char::is_numeric`.
#[inline]
pub fn is_numeric(c: char) -> bool {
    static TABLE: CharTable = CharTable::new(char::is_numeric);
    match c.is_ascii() {
        true => c.is_ascii_digit(),
        false => TABLE.get(c),
    }
}

/// `char::is_alphanumeric`.
#[inline]
pub fn is_alphanumeric(c: char) -> bool {
    static TABLE: CharTable = CharTable::new(char::is_alphanumeric);
    match c.is_ascii() {
        true => c.is_ascii_alphanumeric(),
        false => TABLE.get(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_answer_as_the_standard_library() {
        for c in (0..0x11_0000).filter_map(char::from_u32) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_numeric(c), c.is_numeric(), "{c:?}");
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{c:?}");
        }
    }
}

//! Eight-bytes-at-a-time byte scans (SWAR), shared by the crates that walk text: find where
//! a byte loop has work without looking at every byte.

/// The high bit of each byte of `x` (little-endian) that is below `LIMIT` or above 0x7F, to
/// find in eight bytes at once where a byte scan has work. `(byte & 0x7F) + (0x80 - LIMIT)`
/// has the high bit set exactly for 7-bit values from `LIMIT` up, and never carries into the
/// next byte.
pub fn below_or_high<const LIMIT: u8>(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let at_least_limit = (x & !HIGH) + (0x80 - u64::from(LIMIT)) * 0x0101_0101_0101_0101;
    (x | !at_least_limit) & HIGH
}

/// From `i`, eight bytes at a time, to the first byte that [`below_or_high`] flags (or to
/// the last seven bytes, which the caller scans itself).
pub fn skip_below_or_high<const LIMIT: u8>(b: &[u8], mut i: usize) -> usize {
    while let Some(block) = b.get(i..i + 8) {
        let flagged = below_or_high::<LIMIT>(u64::from_le_bytes(block.try_into().expect("8")));
        if flagged != 0 {
            return i + flagged.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i
}

/// The high bit of each byte of `x` (little-endian) that lies outside `LO..=HI` (two 7-bit
/// bounds): bytes above 0x7F always do. Adding `0x80 - LO` to a 7-bit value sets its high
/// bit exactly from `LO` up, adding `0x7F - HI` exactly above `HI`; neither carries.
pub fn outside<const LO: u8, const HI: u8>(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let v = x & !HIGH;
    let from_lo = v + (0x80 - u64::from(LO)) * ONES;
    let above_hi = v + (0x7F - u64::from(HI)) * ONES;
    (x | !from_lo | above_hi) & HIGH
}

/// From `i`, the end of the run of bytes in `LO..=HI` after each is OR-ed with `FOLD` (0x20
/// folds ASCII upper case onto lower case): eight bytes at a time, then one at a time for
/// the last seven.
pub fn run_within<const LO: u8, const HI: u8, const FOLD: u8>(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    while let Some(block) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(block.try_into().expect("8")) | (u64::from(FOLD) * ONES);
        let out = outside::<LO, HI>(x);
        if out != 0 {
            return i + out.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .take_while(|&&x| (LO..=HI).contains(&(x | FOLD)))
        .count()
}

/// Whether the character at byte `i` of valid UTF-8 is in U+4E00..=U+9FFF (E4 B8 80 to
/// E9 BF BF; all of them [`is_cjk`](crate::document::is_cjk)), read from its first two
/// bytes without decoding: most characters of Chinese text.
pub fn cjk_ideograph_at(b: &[u8], i: usize) -> bool {
    match b[i] {
        0xE5..=0xE9 => true,
        0xE4 => b[i + 1] >= 0xB8,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The eight-byte test flags exactly the bytes below the limit or above 0x7F.
        #[test]
        fn below_or_high_as_defined(x in proptest::num::u64::ANY) {
            let want = |limit: u8| x.to_le_bytes().iter().enumerate().fold(0u64, |m, (k, &b)| {
                m | u64::from(b < limit || b > 0x7F) << (8 * k + 7)
            });
            proptest::prop_assert_eq!(below_or_high::<0x21>(x), want(0x21));
            proptest::prop_assert_eq!(below_or_high::<0x1F>(x), want(0x1F));
            proptest::prop_assert_eq!(below_or_high::<0>(x), want(0));
        }

        /// The eight-byte range test flags exactly the bytes outside the range.
        #[test]
        fn outside_as_defined(x in proptest::num::u64::ANY, spots in proptest::collection::vec(0u8..128, 8)) {
            // Random bytes rarely fall in a narrow range: plant some 7-bit ones.
            let x = x & 0xFF00_FF00_FF00_FF00 | spots.iter().enumerate().fold(0u64, |m, (k, &s)| m | u64::from(s) << (16 * (k % 4)));
            let want = |lo: u8, hi: u8| x.to_le_bytes().iter().enumerate().fold(0u64, |m, (k, &b)| {
                m | u64::from(!(lo..=hi).contains(&b)) << (8 * k + 7)
            });
            proptest::prop_assert_eq!(outside::<b'a', b'z'>(x), want(b'a', b'z'));
            proptest::prop_assert_eq!(outside::<b'0', b'9'>(x), want(b'0', b'9'));
            proptest::prop_assert_eq!(outside::<0, 0x7F>(x), want(0, 0x7F));
            proptest::prop_assert_eq!(outside::<0x7F, 0x7F>(x), want(0x7F, 0x7F));
        }

        /// A run's end is where the first byte outside the folded range lies, at any offset
        /// and across the eight-byte blocks and the tail.
        #[test]
        fn runs_end_at_the_first_byte_outside(t in "[a-zA-Z0-9@\\[`{é ]{0,40}", from in 0usize..40) {
            let b = t.as_bytes();
            let i = from.min(b.len());
            let end = |lo: u8, hi: u8, fold: u8| i + b[i..].iter().take_while(|&&x| (lo..=hi).contains(&(x | fold))).count();
            proptest::prop_assert_eq!(run_within::<b'a', b'z', 0x20>(b, i), end(b'a', b'z', 0x20));
            proptest::prop_assert_eq!(run_within::<b'0', b'9', 0>(b, i), end(b'0', b'9', 0));
        }
    }
}

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
    }
}

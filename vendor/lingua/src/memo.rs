//! sluice's addition to lingua 1.8.0: a per-thread memo of n-gram probability lookups.
//!
//! lingua looks up every n-gram of a text in the FST model of every candidate language, and
//! falls back to the lower-order n-gram when one is missing; on a 1,000-character text that
//! is tens of thousands of FST walks, and the same common n-grams come back document after
//! document. The memo remembers each (language, n-gram) lookup's result exactly as the FST
//! returned it (the probability's bits, or absent), so detection gives the same values as
//! without it. It holds at most [`MAX_ENTRIES`] entries per thread (about 17 MB) and starts
//! over when full.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::language::Language;

/// Entries a thread keeps before it starts over (just under a power-of-two table).
pub(crate) const MAX_ENTRIES: usize = 450_000;
/// The longest n-gram kept: five characters of four bytes.
const MAX_NGRAM_BYTES: usize = 20;
/// An absent n-gram (no probability has these bits: they are a NaN).
const ABSENT: u64 = u64::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    language: u8,
    len: u8,
    bytes: [u8; MAX_NGRAM_BYTES],
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let word = |i: usize| u64::from_le_bytes(self.bytes[i..i + 8].try_into().unwrap());
        let tail = u32::from_le_bytes(self.bytes[16..20].try_into().unwrap()) as u64;
        state.write_u64(word(0));
        state.write_u64(word(8));
        state.write_u64(tail | (self.language as u64) << 32 | (self.len as u64) << 40);
    }
}

/// FxHash's mixing: the keys are short and the table is private, so a fast hash is enough.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.write_u64(b as u64));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

thread_local! {
    static MEMO: RefCell<HashMap<Key, u64, BuildHasherDefault<Fx>>> = RefCell::default();
}

/// `look_up(ngram)` for `language`, answered from this thread's memo when it was asked
/// before. `look_up` returns the probability's bits as the model stores them.
pub(crate) fn probability(
    language: Language,
    ngram: &str,
    look_up: impl FnOnce() -> Option<u64>,
) -> Option<f64> {
    if ngram.len() > MAX_NGRAM_BYTES {
        return look_up().map(f64::from_bits);
    }
    let mut key = Key {
        language: language as u8,
        len: ngram.len() as u8,
        bytes: [0; MAX_NGRAM_BYTES],
    };
    key.bytes[..ngram.len()].copy_from_slice(ngram.as_bytes());
    let bits = MEMO.with(|m| {
        if let Some(&bits) = m.borrow().get(&key) {
            return bits;
        }
        let bits = look_up().unwrap_or(ABSENT);
        let mut m = m.borrow_mut();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, bits);
        bits
    });
    (bits != ABSENT).then(|| f64::from_bits(bits))
}

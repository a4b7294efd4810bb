//! sluice's addition to lingua 1.8.0: a per-thread memo of n-gram probability lookups.
//!
//! lingua looks up every n-gram of a text in the FST model of every candidate language, and
//! falls back to the lower-order n-gram when one is missing; on a 1,000-character text that
//! is tens of thousands of FST walks, and the same common n-grams come back document after
//! document. The memo remembers each (language, n-gram) lookup's result exactly as the FST
//! returned it (the probability's bits, or absent), so detection gives the same values as
//! without it.
//!
//! It is a row per n-gram with a slot per language: [`sums`] finds the rows of a text
//! position's n-grams once and reads every candidate language from them, instead of hashing
//! each (language, n-gram) pair. It holds at most [`MAX_ROWS`] rows per thread (about 16 MB)
//! and starts over when full.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::OnceLock;

use strum::IntoEnumIterator;

use crate::language::Language;
use crate::ngram::NgramRef;

/// Rows a thread keeps before it starts over.
pub(crate) const MAX_ROWS: usize = 26_000;
/// The longest n-gram kept: five characters of four bytes.
const MAX_NGRAM_BYTES: usize = 20;
/// An absent n-gram (no probability has these bits: they are a NaN).
const ABSENT: u64 = u64::MAX;
/// Not looked up yet (another NaN).
const UNKNOWN: u64 = u64::MAX - 1;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    len: u8,
    bytes: [u8; MAX_NGRAM_BYTES],
}

impl Key {
    /// `None` for an n-gram too long to keep.
    fn of(ngram: &str) -> Option<Key> {
        let mut key = Key {
            len: u8::try_from(ngram.len()).ok()?,
            bytes: [0; MAX_NGRAM_BYTES],
        };
        key.bytes
            .get_mut(..ngram.len())?
            .copy_from_slice(ngram.as_bytes());
        Some(key)
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let word = |i: usize| u64::from_le_bytes(self.bytes[i..i + 8].try_into().unwrap());
        let tail = u32::from_le_bytes(self.bytes[16..20].try_into().unwrap()) as u64;
        state.write_u64(word(0));
        state.write_u64(word(8));
        state.write_u64(tail | (self.len as u64) << 32);
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

/// The languages compiled in: a row's width (`language as usize` is below it).
fn languages() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| Language::iter().count())
}

#[derive(Default)]
struct Memo {
    rows: HashMap<Key, u32, BuildHasherDefault<Fx>>,
    /// Row r's slot for language l: `values[r * languages() + l]`.
    values: Vec<u64>,
}

impl Memo {
    /// Starts over unless `n` more rows fit.
    fn make_room(&mut self, n: usize) {
        if self.rows.len() + n > MAX_ROWS {
            self.rows.clear();
            self.values.clear();
        }
    }

    /// The row of `key`, added (every slot unknown) when new; call [`make_room`] first.
    fn row(&mut self, key: Key) -> usize {
        let next = self.rows.len() as u32;
        let row = *self.rows.entry(key).or_insert(next) as usize;
        if row == next as usize {
            self.values.resize(self.values.len() + languages(), UNKNOWN);
        }
        row
    }

    /// The bits of `language`'s lookup in `row`, asking `look_up` the first time.
    fn value(
        &mut self,
        row: usize,
        language: Language,
        look_up: impl FnOnce() -> Option<u64>,
    ) -> u64 {
        let slot = &mut self.values[row * languages() + language as usize];
        if *slot == UNKNOWN {
            *slot = look_up().unwrap_or(ABSENT);
        }
        *slot
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

fn probability_of(bits: u64) -> Option<f64> {
    (bits != ABSENT).then(|| f64::from_bits(bits))
}

/// `look_up(ngram)` for `language`, answered from this thread's memo when it was asked
/// before. `look_up` returns the probability's bits as the model stores them.
pub(crate) fn probability(
    language: Language,
    ngram: &str,
    look_up: impl FnOnce() -> Option<u64>,
) -> Option<f64> {
    let Some(key) = Key::of(ngram) else {
        return look_up().map(f64::from_bits);
    };
    MEMO.with(|m| {
        let m = &mut *m.borrow_mut();
        m.make_room(1);
        let row = m.row(key);
        probability_of(m.value(row, language, look_up))
    })
}

/// For each of `languages`, the sum over the text's positions (`model`, each a list of an
/// n-gram and its lower orders) of the first of a position's n-grams that the language's
/// model holds: lingua's `compute_sum_of_ngram_probabilities`, in the same order of
/// additions, so the same sums. `look_up(language, ngram)` asks the model.
pub(crate) fn sums(
    languages: &[Language],
    model: &[Vec<NgramRef>],
    look_up: impl Fn(Language, &str) -> Option<u64>,
) -> Vec<f64> {
    let mut sums = vec![0.0; languages.len()];
    let mut rows = Vec::new();
    MEMO.with(|m| {
        let m = &mut *m.borrow_mut();
        for ngrams in model {
            if ngrams.iter().any(|g| g.value.len() > MAX_NGRAM_BYTES) {
                // Too long to keep (not an n-gram lingua makes): asked directly.
                for (sum, &language) in sums.iter_mut().zip(languages) {
                    if let Some(p) = ngrams.iter().find_map(|g| look_up(language, g.value)) {
                        *sum += f64::from_bits(p);
                    }
                }
                continue;
            }
            m.make_room(ngrams.len());
            rows.clear();
            rows.extend(
                ngrams
                    .iter()
                    .map(|g| m.row(Key::of(g.value).expect("short enough"))),
            );
            for (sum, &language) in sums.iter_mut().zip(languages) {
                for (g, &row) in ngrams.iter().zip(&rows) {
                    if let Some(p) =
                        probability_of(m.value(row, language, || look_up(language, g.value)))
                    {
                        *sum += p;
                        break;
                    }
                }
            }
        }
    });
    sums
}

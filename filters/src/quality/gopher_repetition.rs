//! Gopher repetition rules (Rae et al. 2021, table A1), computed as datatrove does:
//! duplicate paragraphs and lines by count and by characters, the most frequent 2/3/4-gram's
//! share of characters, and the share of characters in repeated 5..10-grams.

#[cfg(test)]
use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64;

use pipeline::{Doc, RowOut, RowStage, Verdict};
use serde::Deserialize;

use super::{check_ratio, find_duplicates};
use crate::analysis::Analyser;
use crate::text::{char_len, split_newline_runs};
#[cfg(test)]
use crate::words::words;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GopherRepetitionConfig {
    pub dup_line_frac: f64,
    pub dup_para_frac: f64,
    pub dup_line_char_frac: f64,
    pub dup_para_char_frac: f64,
    /// (n, max fraction) for the top n-gram rule.
    pub top_n_grams: Vec<(usize, f64)>,
    /// (n, max fraction) for the duplicated n-gram rule.
    pub dup_n_grams: Vec<(usize, f64)>,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        GopherRepetitionConfig {
            dup_line_frac: 0.3,
            dup_para_frac: 0.3,
            dup_line_char_frac: 0.2,
            dup_para_char_frac: 0.2,
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![
                (5, 0.15),
                (6, 0.14),
                (7, 0.13),
                (8, 0.12),
                (9, 0.11),
                (10, 0.10),
            ],
        }
    }
}

pub struct GopherRepetition {
    c: GopherRepetitionConfig,
    top_reasons: Vec<String>,
    dup_reasons: Vec<String>,
    analyser: Analyser,
}

fn reason(prefix: &str, n: usize) -> String {
    format!("gopher_repetition.{prefix}_{n}_gram")
}

impl GopherRepetition {
    pub fn new(c: GopherRepetitionConfig) -> Result<Self, String> {
        for (name, v) in [
            ("dup_line_frac", c.dup_line_frac),
            ("dup_para_frac", c.dup_para_frac),
            ("dup_line_char_frac", c.dup_line_char_frac),
            ("dup_para_char_frac", c.dup_para_char_frac),
        ] {
            check_ratio(name, v)?;
        }
        for &(n, f) in c.top_n_grams.iter().chain(&c.dup_n_grams) {
            if n == 0 {
                return Err("n-gram sizes must be at least 1".into());
            }
            check_ratio("n-gram fraction", f)?;
        }
        Ok(GopherRepetition {
            top_reasons: c
                .top_n_grams
                .iter()
                .map(|(n, _)| reason("top", *n))
                .collect(),
            dup_reasons: c
                .dup_n_grams
                .iter()
                .map(|(n, _)| reason("duplicated", *n))
                .collect(),
            c,
            analyser: Analyser::standalone(),
        })
    }
}

/// Word hashes and lengths of a document, computed once for all n-gram rules.
struct Words {
    hash: Vec<u64>,
    /// Prefix sums of word lengths in chars: `len[j] - len[i]` is the length of words i..j.
    len: Vec<usize>,
}

impl Words {
    /// The words of a text, `ascii` when it is all ASCII (a character per byte).
    fn new(words: &[&str], ascii: bool) -> Self {
        let mut len = Vec::with_capacity(words.len() + 1);
        let mut hash = Vec::with_capacity(words.len());
        let mut chars = 0;
        len.push(0);
        for w in words {
            let (h, c) = word_hash_chars(w.as_bytes(), ascii);
            chars += c;
            len.push(chars);
            hash.push(h);
        }
        Words { hash, len }
    }

    fn count(&self) -> usize {
        self.hash.len()
    }

    fn chars(&self, i: usize, n: usize) -> usize {
        self.len[i + n] - self.len[i]
    }
}

/// A word's hash and its length in characters (its bytes when `ascii`). The hash is xxh3's
/// for long words; a word of up to 16 bytes is read as one or two (overlapping) integers
/// that hold all of its bytes, mixed with its length, inline (most words are a few bytes,
/// and this runs on every word). Its characters are its bytes less its UTF-8 continuation
/// bytes, counted in the same integers, the second's overlap shifted out.
fn word_hash_chars(w: &[u8], ascii: bool) -> (u64, usize) {
    let n = w.len();
    let (x, cont) = match n {
        0 => (0, 0),
        1..=3 => {
            let (a, b, c) = (w[0], w[n / 2], w[n - 1]);
            let x = u64::from(a) << 16 | u64::from(b) << 8 | u64::from(c);
            // a = w[0] starts a character; c = w[n - 1] (ASCII when n = 1) and, from n = 3,
            // b = w[1] may continue one.
            let cont = usize::from(continuation(c)) + usize::from(n == 3 && continuation(b));
            (x, cont)
        }
        4..=8 => {
            let lo = u32::from_le_bytes(w[..4].try_into().expect("4"));
            let hi = u32::from_le_bytes(w[n - 4..].try_into().expect("4"));
            let x = u64::from(lo) << 32 | u64::from(hi);
            // hi's low 8 - n bytes are lo's too.
            let cont = continuations(u64::from(lo)) + continuations(u64::from(hi) >> (8 * (8 - n)));
            (x, cont)
        }
        9..=16 => {
            let lo = u64::from_le_bytes(w[..8].try_into().expect("8"));
            let hi = u64::from_le_bytes(w[n - 8..].try_into().expect("8"));
            // hi's low 16 - n bytes are lo's too.
            let cont = continuations(lo) + continuations(hi >> (8 * (16 - n)));
            (mix(lo ^ 0x243F_6A88_85A3_08D3) ^ hi, cont)
        }
        _ => {
            let cont = || w.iter().filter(|&&b| continuation(b)).count();
            return (xxh3_64(w), if ascii { n } else { n - cont() });
        }
    };
    let hash = mix(x ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (hash, if ascii { n } else { n - cont })
}

/// A UTF-8 continuation byte (10xxxxxx).
fn continuation(b: u8) -> bool {
    (b as i8) < -0x40
}

/// The continuation bytes among x's eight: bit 7 set and bit 6 clear (shifting left by one
/// moves each byte's bit 6 under its bit 7, and a byte's bit 7 only into the next's bit 0).
fn continuations(x: u64) -> usize {
    (x & !(x << 1) & 0x8080_8080_8080_8080).count_ones() as usize
}

/// A bijection that spreads every input bit over the output's high bits, and the high
/// half of the product over the low bits (the word counts' buckets take both ends).
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^ x >> 32
}

const NGRAM_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// One word more in an n-gram's hash.
fn ngram_step(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The n-grams that can repeat, narrowed as n grows: only positions whose n-gram occurs
/// more than once in the text can hold a repeat, and a repeated (n + 1)-gram's first n
/// words repeat too, so each longer n starts from the positions the last narrowing kept.
/// The first narrowing starts from the windows that hold no word known to occur once; the
/// word counts behind that also bound the top n-gram rules.
struct NGrams<'a> {
    words: &'a Words,
    /// `hashes[i]` = hash of the `repeated_n` words starting at i, at the positions in
    /// `repeated` only.
    hashes: Vec<u64>,
    /// The positions (ascending) whose `repeated_n`-gram occurs more than once.
    repeated: Vec<usize>,
    /// `slot[k]`: the tally slot of `repeated[k]`'s n-gram.
    slot: Vec<u32>,
    /// 0: no narrowing yet.
    repeated_n: usize,
    /// `unique_before[i]`: how many of the first i words are known to occur once in the
    /// text. A window holding one of them cannot repeat.
    unique_before: Vec<u32>,
    /// The largest characters × count of any word, and the largest count.
    word_chars_top: usize,
    word_count_top: usize,
    /// Each counted n-gram's occurrences and first position.
    tally: Tally,
    /// [`NGrams::count_words`]' counts per hash bucket.
    buckets: Vec<u16>,
}

/// An open-addressing table of n-gram hashes (already well mixed: the slot is the top
/// bits), each with its count and first position; sized per pass to at most half full.
/// Much cheaper than a general map for the one thing the rules do: count, then read back.
#[derive(Default)]
struct Tally {
    slots: Vec<Slot>,
    shift: u32,
}

/// Counts and positions fit 32 bits: a document is one Arrow `Utf8` value (under 2^31
/// bytes), so it has fewer words than that.
#[derive(Default, Clone, Copy)]
struct Slot {
    hash: u64,
    /// 0: empty.
    count: u32,
    first: u32,
}

impl Tally {
    /// Empties the table, sized for up to `n` distinct hashes.
    fn reset(&mut self, n: usize) {
        let cap = (2 * n).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(cap, Slot::default());
        self.shift = 64 - cap.trailing_zeros();
    }

    /// Counts one occurrence of `hash` at position `at`; returns its slot.
    fn add(&mut self, hash: u64, at: usize) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = (hash >> self.shift) as usize;
        // The table is at most half full: the first slot probed is mostly the one.
        while self.slots[i].count != 0 && self.slots[i].hash != hash {
            i = (i + 1) & mask;
        }
        // A new hash and a repeat are updated alike, without a branch: which of the two a
        // position is, is a coin toss the predictor loses.
        let s = &mut self.slots[i];
        let new = s.count == 0;
        s.hash = hash;
        s.first = if new { at as u32 } else { s.first };
        s.count += 1;
        i as u32
    }

    fn count(&self, slot: u32) -> u32 {
        self.slots[slot as usize].count
    }

    /// The most frequent of these slots' hashes: (count, first position); ties go to the
    /// first seen.
    fn top_of(&self, slots: &[u32]) -> Option<(usize, usize)> {
        let top = slots.iter().map(|&k| self.slots[k as usize]);
        let top = top.max_by(|a, b| a.count.cmp(&b.count).then(b.first.cmp(&a.first)))?;
        Some((top.count as usize, top.first as usize))
    }
}

impl<'a> NGrams<'a> {
    fn new(words: &'a Words) -> Self {
        let mut g = NGrams {
            words,
            hashes: vec![NGRAM_SEED; words.count()],
            repeated: Vec::new(),
            slot: Vec::new(),
            repeated_n: 0,
            unique_before: Vec::with_capacity(words.count() + 1),
            word_chars_top: 0,
            word_count_top: 1,
            tally: Tally::default(),
            buckets: Vec::new(),
        };
        g.count_words();
        g
    }

    /// The word counts' bounds and `unique_before`. Words are counted per bucket of their
    /// hash, in two rows of at least twice as many buckets as words, and a word's count is
    /// the smaller of its two buckets'. That is at least the word's count (more only when
    /// another word shares both buckets), which is all the bounds need, and a count of 1
    /// is a word that occurs once. The windows without such a word are a superset of the
    /// repeated n-grams' positions; the narrowings count exactly. The buckets are a small
    /// array of counters, cheaper than a table of every word.
    fn count_words(&mut self) {
        let NGrams {
            words,
            unique_before,
            buckets,
            ..
        } = self;
        let n = words.count();
        // A bucket counts to u16::MAX at most, so more words than that bound nothing.
        if n > usize::from(u16::MAX) {
            return self.count_nothing();
        }
        let bits = (2 * n)
            .next_power_of_two()
            .clamp(256, 1 << 15)
            .trailing_zeros();
        let row = 1usize << bits;
        // The two rows take different bits of the hash.
        let bucket = |h: u64| ((h >> (64 - bits)) as usize, row + (h as usize & (row - 1)));
        buckets.clear();
        buckets.resize(2 * row, 0);
        for &h in &words.hash {
            let (a, b) = bucket(h);
            buckets[a] += 1;
            buckets[b] += 1;
        }
        let (mut chars_top, mut count_top, mut unique) = (0, 1, 0);
        unique_before.clear();
        unique_before.push(0);
        for (i, &h) in words.hash.iter().enumerate() {
            let (a, b) = bucket(h);
            let count = u32::from(buckets[a].min(buckets[b]));
            chars_top = chars_top.max(words.chars(i, 1) * count as usize);
            count_top = count_top.max(count as usize);
            unique += u32::from(count == 1);
            unique_before.push(unique);
        }
        self.word_chars_top = chars_top;
        self.word_count_top = count_top;
    }

    /// [`NGrams::count_words`] for a text of more words than a bucket counts: no word is
    /// known to occur once, and the bounds rule nothing out.
    fn count_nothing(&mut self) {
        self.unique_before.clear();
        self.unique_before.resize(self.words.count() + 1, 0);
        (self.word_chars_top, self.word_count_top) = (usize::MAX, usize::MAX);
    }

    /// At least the characters of the most frequent n-gram times its count, from the word
    /// counts alone: each of its n words occurs at least as often as it, so each word's
    /// characters times the n-gram's count are at most `word_chars_top`, and the `n - 1`
    /// separators add `sep_chars` per occurrence.
    fn top_bound(&self, n: usize, sep_chars: usize) -> usize {
        let seps = (n - 1) * sep_chars;
        n.saturating_mul(self.word_chars_top)
            .saturating_add(seps.saturating_mul(self.word_count_top))
    }

    /// Narrows `repeated` to the positions whose n-gram occurs more than once, starting
    /// from the last narrowing when it was for a smaller n, else from the windows of n
    /// words that hold no word known to occur once.
    fn keep_repeated(&mut self, n: usize) {
        if self.repeated_n == 0 || self.repeated_n > n {
            self.clean_windows(n);
        } else if self.repeated_n < n {
            self.extend_repeated(n);
        }
        let NGrams {
            hashes,
            repeated,
            slot,
            tally,
            ..
        } = self;
        tally.reset(repeated.len());
        slot.clear();
        slot.extend(repeated.iter().map(|&i| tally.add(hashes[i], i)));
        // Without a branch: whether an n-gram repeats is a coin toss the predictor loses.
        let mut kept = 0;
        for k in 0..repeated.len() {
            (repeated[kept], slot[kept]) = (repeated[k], slot[k]);
            kept += usize::from(tally.count(slot[k]) > 1);
        }
        repeated.truncate(kept);
        slot.truncate(kept);
    }

    /// Every position whose window of n words holds no word known to occur once, with its
    /// n-gram's hash: the first narrowing's candidates.
    fn clean_windows(&mut self, n: usize) {
        let NGrams {
            words,
            hashes,
            repeated,
            unique_before,
            ..
        } = self;
        let used = (words.count() + 1).saturating_sub(n);
        repeated.clear();
        repeated.extend((0..used).filter(|&i| clean_window(unique_before, i, n)));
        for &i in repeated.iter() {
            let window = words.hash[i..i + n].iter();
            hashes[i] = window.fold(NGRAM_SEED, |h, w| ngram_step(h, *w));
        }
        self.repeated_n = n;
    }

    /// Grows the hashes of the positions in `repeated` from `repeated_n` to n words, keeping
    /// only those with a whole n-gram free of words that occur once: the other positions
    /// can hold no repeat, so their hashes are left behind.
    fn extend_repeated(&mut self, n: usize) {
        let NGrams {
            words,
            hashes,
            repeated,
            repeated_n,
            unique_before,
            ..
        } = self;
        let used = (words.count() + 1).saturating_sub(n);
        // Ascending: the positions with a whole n-gram are a prefix.
        repeated.truncate(repeated.partition_point(|&i| i < used));
        repeated.retain(|&i| clean_window(unique_before, i, n));
        for &i in repeated.iter() {
            let grown = words.hash[i + *repeated_n..i + n].iter();
            hashes[i] = grown.fold(hashes[i], |h, w| ngram_step(h, *w));
        }
        *repeated_n = n;
    }
}

/// Whether the n words from i hold no word known to occur once (`unique_before` as in
/// [`NGrams`]): only such a window can repeat.
fn clean_window(unique_before: &[u32], i: usize, n: usize) -> bool {
    unique_before[i + n] == unique_before[i]
}

/// Characters of the most frequent n-gram times its count (ties: first seen). The n-gram's
/// words are joined by `sep_chars` characters (1 for a space; 0 for CJK, written without).
/// When no n-gram repeats, each occurs once and the first is the most frequent.
fn top_ngram_chars(grams: &mut NGrams, n: usize, sep_chars: usize) -> Option<usize> {
    if grams.words.count() < n {
        return None;
    }
    grams.keep_repeated(n);
    let (count, first) = grams.tally.top_of(&grams.slot).unwrap_or((1, 0));
    Some((grams.words.chars(first, n) + (n - 1) * sep_chars) * count)
}

/// Characters in n-grams (words concatenated without spaces) already seen, skipping past a
/// repeat (datatrove's `find_all_duplicate`). Only positions whose n-gram occurs twice or
/// more can be a repeat, and a unique n-gram, once seen, never matches a later one: the scan
/// visits those positions alone.
fn duplicated_ngram_chars(grams: &mut NGrams, n: usize) -> usize {
    grams.keep_repeated(n);
    let NGrams {
        words,
        repeated,
        slot,
        tally,
        ..
    } = grams;
    // The counts are spent here (the next pass refills the table): a visited n-gram's
    // count is set to 0, which marks it seen.
    let (mut chars, mut next) = (0, 0);
    for (&i, &s) in repeated.iter().zip(slot.iter()) {
        if i >= next {
            let count = &mut tally.slots[s as usize].count;
            if *count == 0 {
                chars += words.chars(i, n);
                next = i + n;
            }
            *count = 0;
        }
    }
    chars
}

impl RowStage for GopherRepetition {
    fn name(&self) -> &str {
        "gopher_repetition"
    }

    fn judge(&self, doc: Doc<'_>, _: &mut RowOut) -> Verdict {
        self.check(doc.text)
    }
}

impl super::Analysing for GopherRepetition {
    fn analyser(&mut self) -> &mut Analyser {
        &mut self.analyser
    }
}

impl GopherRepetition {
    /// This rule set's verdict on one text.
    pub fn check(&self, text: &str) -> Verdict {
        let c = &self.c;
        if text.is_empty() {
            return Verdict::drop("gopher_repetition.empty");
        }
        let chars = char_len(text);
        let total = chars as f64;
        let paragraphs = split_newline_runs(text.trim(), 2);
        let (dups, dup_chars) = find_duplicates(paragraphs.iter().copied());
        if dups as f64 / paragraphs.len() as f64 > c.dup_para_frac {
            return Verdict::drop("gopher_repetition.dup_para_frac");
        }
        if dup_chars as f64 / total > c.dup_para_char_frac {
            return Verdict::drop("gopher_repetition.dup_para_char_frac");
        }
        let lines = split_newline_runs(text, 1);
        let (dups, dup_chars) = find_duplicates(lines.iter().copied());
        if dups as f64 / lines.len() as f64 > c.dup_line_frac {
            return Verdict::drop("gopher_repetition.dup_line_frac");
        }
        if dup_chars as f64 / total > c.dup_line_char_frac {
            return Verdict::drop("gopher_repetition.dup_line_char_frac");
        }
        let doc = self.analyser.analyse(text);
        let words = Words::new(&doc.words, chars == text.len());
        let grams = &mut NGrams::new(&words);
        let sep = if doc.cjk { 0 } else { 1 };
        for (k, &(n, frac)) in c.top_n_grams.iter().enumerate() {
            // The word counts bound the rule's characters: most texts pass it on those.
            // (Neither side is NaN: the text is not empty, and `new` checked `frac`.)
            if grams.top_bound(n, sep) as f64 / total <= frac {
                continue;
            }
            if let Some(chars) = top_ngram_chars(grams, n, sep) {
                if chars as f64 / total > frac {
                    return Verdict::Drop {
                        reason: self.top_reasons[k].clone().into(),
                        detail: None,
                    };
                }
            }
        }
        // Once no n-gram repeats, no longer one can: a repeated (n + 1)-gram's first n words
        // repeat too (the rolling hash extends an n-gram's hash by a bijection, so this
        // holds for the hashes, short of a 64-bit collision). Those rules then count 0.
        let mut all_unique_from = usize::MAX;
        for (k, &(n, frac)) in c.dup_n_grams.iter().enumerate() {
            if n >= all_unique_from {
                continue;
            }
            let chars = duplicated_ngram_chars(grams, n);
            if chars == 0 {
                all_unique_from = n;
            }
            if chars as f64 / total > frac {
                return Verdict::Drop {
                    reason: self.dup_reasons[k].clone().into(),
                    detail: None,
                };
            }
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// datatrove's `find_all_duplicate` over every position, as before the narrowing: the
    /// n-grams compared as words, not hashes.
    fn duplicated_every_position(ws: &[&str], n: usize) -> usize {
        let (mut seen, mut chars, mut i) = (HashSet::new(), 0, 0);
        while i + n <= ws.len() {
            if seen.insert(&ws[i..i + n]) {
                i += 1;
            } else {
                chars += ws[i..i + n].iter().map(|w| char_len(w)).sum::<usize>();
                i += n;
            }
        }
        chars
    }

    /// The most frequent n-gram (ties: first seen) counted over every position, as words.
    fn top_every_position(ws: &[&str], n: usize, sep: usize) -> Option<usize> {
        let mut counts: Vec<(&[&str], usize, usize)> = vec![];
        for i in 0..(ws.len() + 1).checked_sub(n)? {
            let g = &ws[i..i + n];
            match counts.iter_mut().find(|c| c.0 == g) {
                Some(c) => c.1 += 1,
                None => counts.push((g, 1, i)),
            }
        }
        let top = counts
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))?;
        let chars: usize = top.0.iter().map(|w| char_len(w)).sum();
        Some((chars + (n - 1) * sep) * top.1)
    }

    proptest::proptest! {
        /// Visiting only the positions whose n-gram repeats gives what visiting every
        /// position does, for both rules and any order of n (a smaller n starts the
        /// narrowing over).
        #[test]
        fn narrowed_ngrams_count_as_every_position(
            text in "([a-c]{1,2} ){0,50}",
            calls in proptest::collection::vec((1usize..9, proptest::bool::ANY), 1..8),
        ) {
            let ws = words(&text);
            let w = Words::new(&ws, false);
            let g = &mut NGrams::new(&w);
            for (n, top) in calls {
                match top {
                    true => proptest::prop_assert_eq!(top_ngram_chars(g, n, 1), top_every_position(&ws, n, 1)),
                    false => proptest::prop_assert_eq!(duplicated_ngram_chars(g, n), duplicated_every_position(&ws, n)),
                }
            }
        }
    }

    proptest::proptest! {
        /// What check's shortcut relies on: when no n-gram repeats, no longer one does.
        #[test]
        fn no_repeated_ngram_means_no_longer_one(text in "([a-d]{1,2} ){0,40}", n0 in 1usize..6) {
            let ws = words(&text);
            let w = Words::new(&ws, false);
            let g = &mut NGrams::new(&w);
            if duplicated_ngram_chars(g, n0) == 0 {
                for n in n0..n0 + 6 {
                    proptest::prop_assert_eq!(duplicated_ngram_chars(g, n), 0);
                }
            }
        }
    }

    /// The n-gram rules as datatrove runs them, each counted over every position: what
    /// check's bounds and narrowing must agree with.
    fn ngram_rules_every_position(g: &GopherRepetition, text: &str) -> Verdict {
        let total = char_len(text) as f64;
        let ws = words(text);
        for (k, &(n, frac)) in g.c.top_n_grams.iter().enumerate() {
            if top_every_position(&ws, n, 1).is_some_and(|c| c as f64 / total > frac) {
                return Verdict::Drop {
                    reason: g.top_reasons[k].clone().into(),
                    detail: None,
                };
            }
        }
        for (k, &(n, frac)) in g.c.dup_n_grams.iter().enumerate() {
            if duplicated_every_position(&ws, n) as f64 / total > frac {
                return Verdict::Drop {
                    reason: g.dup_reasons[k].clone().into(),
                    detail: None,
                };
            }
        }
        Verdict::Keep
    }

    /// Words that share their first and last bytes but not their length hash apart (a run
    /// of `=` under a title is as long as the title): one length class after another.
    #[test]
    fn runs_of_one_byte_hash_apart() {
        let runs: Vec<String> = (1..40).map(|n| "=".repeat(n)).collect();
        let hashes: HashSet<u64> = runs
            .iter()
            .map(|w| word_hash_chars(w.as_bytes(), true).0)
            .collect();
        assert_eq!(hashes.len(), runs.len());
    }

    proptest::proptest! {
        /// A word's characters counted in its hash's integers are `chars().count()`, for
        /// every length class (1..=3, 4..=8, 9..=16 bytes and longer) and any script.
        #[test]
        fn word_chars_are_its_characters(w in "[a-zé山😀\u{80}]{1,20}") {
            let (_, chars) = word_hash_chars(w.as_bytes(), false);
            proptest::prop_assert_eq!(chars, w.chars().count());
            if w.is_ascii() {
                proptest::prop_assert_eq!(word_hash_chars(w.as_bytes(), true).1, w.len());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// check's verdict from the n-gram rules is that of counting every n-gram, for texts
        /// of a few words of uneven lengths (so the word counts' bound holds some rules and
        /// not others) and thresholds around what such texts reach.
        #[test]
        fn ngram_verdicts_are_those_of_counting_every_position(
            text in "(a|bb|cccc|dddddddd|e|ffffff|g|hh) ((a|bb|cccc|dddddddd|e|ffffff|g|hh|[i-z]{1,9}|x{8,18}) ){0,60}",
            top in proptest::collection::vec((1usize..6, 0.0..0.6), 0..4),
            dup in proptest::collection::vec((1usize..12, 0.0..0.5), 0..7),
        ) {
            let c = GopherRepetitionConfig {
                dup_line_frac: 1.0,
                dup_para_frac: 1.0,
                dup_line_char_frac: 1.0,
                dup_para_char_frac: 1.0,
                top_n_grams: top,
                dup_n_grams: dup,
            };
            let g = GopherRepetition::new(c).unwrap();
            let text = text.trim_end();
            proptest::prop_assert_eq!(g.check(text), ngram_rules_every_position(&g, text));
        }
    }

    /// A text of more words than a bucket counts is narrowed from every position, and
    /// its bounds rule nothing out.
    #[test]
    fn texts_of_more_words_than_a_bucket_counts() {
        let mut x = 1u32;
        let text: Vec<String> = (0..70_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                format!("w{}", x >> 16 & 0xF)
            })
            .collect();
        let ws: Vec<&str> = text.iter().map(String::as_str).collect();
        let w = Words::new(&ws, true);
        let g = &mut NGrams::new(&w);
        assert_eq!(g.top_bound(2, 1), usize::MAX);
        for n in 1..4 {
            assert_eq!(top_ngram_chars(g, n, 1), top_every_position(&ws, n, 1));
            assert_eq!(
                duplicated_ngram_chars(g, n),
                duplicated_every_position(&ws, n)
            );
        }
    }

    /// A document whose 5-grams are all unique but whose shorter n-grams repeat is still
    /// judged by every rule (the shortcut starts only where nothing repeats).
    #[test]
    fn repeats_below_the_shortcut_still_count() {
        let c = GopherRepetitionConfig {
            top_n_grams: vec![],
            dup_n_grams: vec![(6, 0.5), (3, 0.1)],
            ..Default::default()
        };
        let g = GopherRepetition::new(c).unwrap();
        let text = "one two three alpha one two three beta one two three gamma one two three delta";
        assert_eq!(
            g.check(text),
            Verdict::Drop {
                reason: "gopher_repetition.duplicated_3_gram".into(),
                detail: None
            }
        );
    }

    fn r() -> GopherRepetition {
        GopherRepetition::new(GopherRepetitionConfig::default()).unwrap()
    }

    #[test]
    fn varied_text_passes_and_repeats_fail() {
        let prose = "The river rose overnight after heavy rain in the hills.\n\
            Farmers moved their animals to higher ground before dawn.\n\
            By noon the water had reached the old stone bridge, and the road was closed.\n\
            Officials said the level should fall again by the weekend.";
        assert_eq!(r().check(prose), Verdict::Keep);
        let dup_lines = "Click here to subscribe.\nClick here to subscribe.\nClick here to subscribe.\nNews today.";
        assert_eq!(
            r().check(dup_lines),
            Verdict::drop("gopher_repetition.dup_line_frac")
        );
        let ngrams =
            "buy cheap pills online buy cheap pills online today and buy cheap pills online now";
        assert!(
            matches!(r().check(ngrams), Verdict::Drop { reason, .. } if reason.contains("gram"))
        );
    }

    #[test]
    fn chinese_repetition_is_caught_per_character() {
        let spam = "点击这里领取红包点击这里领取红包点击这里领取红包点击这里领取红包";
        assert!(matches!(r().check(spam), Verdict::Drop { .. }));
        let poem = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。";
        assert_eq!(r().check(poem), Verdict::Keep);
    }

    /// Repeated words of two-byte letters weigh their characters, not their bytes: 30
    /// repeated letters in 320 characters are under the 10-gram rule's 10%, 60 bytes are not.
    #[test]
    fn repeats_of_non_ascii_words_count_characters() {
        let letters: String = ('α'..='ω')
            .chain('а'..='ж')
            .take(30)
            .map(|c| format!("{c} "))
            .collect();
        let filler: String = (0..50u8)
            .map(|k| format!("{}{}q ", (b'a' + k / 26) as char, (b'a' + k % 26) as char))
            .collect();
        let text = format!("{filler}{letters}{letters}");
        assert_eq!(char_len(text.trim_end()), 319);
        assert_eq!(r().check(text.trim_end()), Verdict::Keep);
    }

    #[test]
    fn helpers_match_reference_semantics() {
        let w = Words::new(&["a", "b", "a", "b", "a", "b"], true);
        // "a b" appears 3 times: 3 chars x 3
        let g = &mut NGrams::new(&w);
        assert_eq!(top_ngram_chars(g, 2, 1), Some(9));
        assert_eq!(top_ngram_chars(g, 2, 0), Some(6));
        // 2-grams: ab(0) ba(1) ab(2) repeat → +2, skip to 4: ab repeat → +2
        assert_eq!(duplicated_ngram_chars(g, 2), 4);
        assert_eq!(top_ngram_chars(g, 7, 1), None);
    }
}

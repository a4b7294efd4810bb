//! Word splitting for the quality rules.
//!
//! Latin-script text follows the shape of spaCy's English tokenizer (what datatrove's rules
//! count with): whitespace split, then leading and trailing punctuation, clitics (`n't`,
//! `'s`, `'re`...) and infix hyphens peeled off as tokens of their own. CJK text has no
//! spaces: each ideograph is one word, so Chinese documents get meaningful word counts
//! instead of one giant "word" per line.

use std::sync::OnceLock;

use pipeline::chars::{is_alphabetic, is_alphanumeric};
use pipeline::scan::{cjk_ideograph_at, run_within, skip_below_or_high};
use smallvec::SmallVec;

use crate::text::{is_cjk, CharSet};

const PREFIX_CHARS: &[char] = &[
    '§', '%', '=', '—', '–', '(', '[', '{', '<', '>', '"', '\'', '`', '«', '»', '¿', '¡', '$', '£',
    '€', '¥', '#', '*', '&', '…', '„', '“', '‘', '”', '’', '!', '?', ',', ';', ':', '_', '·',
];
const SUFFIX_CHARS: &[char] = &[
    ')', ']', '}', '>', '<', '"', '\'', '”', '’', '»', '«', ',', '!', '?', ';', ':', '…', '%', '°',
    '`', '*', '‘', '“', '_', '#', '&', '—', '–',
];
const CLITICS: &[&str] = &[
    "n't", "n’t", "'s", "’s", "'re", "’re", "'ll", "’ll", "'ve", "’ve", "'m", "’m", "'d", "’d",
];
/// Membership in [`PREFIX_CHARS`] and [`SUFFIX_CHARS`] (ASCII answered from a bit mask).
fn prefix_char(c: char) -> bool {
    static SET: OnceLock<CharSet> = OnceLock::new();
    SET.get_or_init(|| CharSet::of(PREFIX_CHARS.iter().copied()))
        .contains(c)
}

fn suffix_char(c: char) -> bool {
    static SET: OnceLock<CharSet> = OnceLock::new();
    SET.get_or_init(|| CharSet::of(SUFFIX_CHARS.iter().copied()))
        .contains(c)
}

/// Units split off a number they follow (`300m` → `300`, `m`), as spaCy's suffix rules do.
const UNITS: &[&str] = &[
    "km²", "km³", "km", "m²", "m³", "dm²", "dm³", "dm", "cm²", "cm³", "cm", "mm²", "mm³", "mm",
    "m", "ha", "µm", "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s", "km/h",
    "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G",
    "M", "K",
];
/// Words spaCy splits by exception.
const SPLIT_WORDS: &[(&str, usize)] = &[("cannot", 3), ("gonna", 3), ("gotta", 3), ("wanna", 3)];
/// Their shortest and longest lengths in bytes: most words are neither.
const SPLIT_WORD_MIN: usize = split_word_len(true);
const SPLIT_WORD_MAX: usize = split_word_len(false);

const fn split_word_len(shortest: bool) -> usize {
    let (mut len, mut i) = (SPLIT_WORDS[0].0.len(), 1);
    while i < SPLIT_WORDS.len() {
        let n = SPLIT_WORDS[i].0.len();
        if shortest && n < len || !shortest && n > len {
            len = n;
        }
        i += 1;
    }
    len
}
const ABBREVIATIONS: &[&str] = &[
    "mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "jr.", "sr.", "inc.", "ltd.", "co.", "corp.",
    "prof.", "no.", "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.",
    "oct.", "nov.", "dec.", "mt.", "gen.", "gov.", "sen.", "rep.", "rev.", "e.g.", "i.e.", "a.m.",
    "p.m.",
];
/// The longest abbreviation, in bytes: a longer token is none of them.
const ABBREVIATION_MAX_LEN: usize = max_len(ABBREVIATIONS);

/// Splits `text` into words and punctuation tokens (slices of `text`), whitespace dropped.
///
/// Most tokens are a run of ASCII letters (or of digits) between ASCII whitespace: those are
/// pushed from one byte scan; any other run between whitespace goes through the rules.
pub fn words(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    // English runs ~5 bytes a token with its space: room for that without growing.
    let mut out = Vec::with_capacity(b.len() / 4);
    let mut i = 0;
    while i < b.len() {
        let class = BYTE_CLASS[usize::from(b[i])];
        if class == SPACE {
            i += 1;
            continue;
        }
        let mut j = i;
        if class != OTHER {
            j = match class {
                LETTER => run_within::<b'a', b'z', 0x20>(b, i),
                _ => run_within::<b'0', b'9', 0>(b, i),
            };
            if j == b.len() || BYTE_CLASS[usize::from(b[j])] == SPACE {
                push_plain(&text[i..j], &mut out);
                i = j + 1; // past the whitespace byte just seen
                continue;
            }
        }
        let (end, next, ascii) = chunk_end(text, j);
        if end > i {
            split_cjk(&text[i..end], ascii, &mut out);
        }
        i = next;
    }
    out
}

/// [`words`]'s byte classes: ASCII whitespace, ASCII letters, ASCII digits, anything else.
const SPACE: u8 = 1;
const LETTER: u8 = 2;
const DIGIT: u8 = 3;
const OTHER: u8 = 0;
static BYTE_CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut x = 0;
    while x < 128 {
        let c = x as u8;
        t[x] = match c {
            b' ' | b'\t'..=b'\r' => SPACE,
            b'a'..=b'z' | b'A'..=b'Z' => LETTER,
            b'0'..=b'9' => DIGIT,
            _ => OTHER,
        };
        x += 1;
    }
    t
};

/// Calls `f` with each non-empty run of `text` between whitespace characters (what
/// `text.split(char::is_whitespace)` yields) and whether the run is ASCII.
pub(crate) fn for_each_chunk<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    let mut i = 0;
    while i < text.len() {
        let (end, next, ascii) = chunk_end(text, i);
        if end > i {
            f(&text[i..end], ascii);
        }
        i = next;
    }
}

/// Where the run of non-whitespace characters that `from` lies in (or starts) ends: (its
/// end, the byte after the whitespace character there, whether the run's bytes from `from`
/// are ASCII). ASCII bytes are classified without decoding; only other characters are
/// decoded.
fn chunk_end(text: &str, from: usize) -> (usize, usize, bool) {
    let b = text.as_bytes();
    let (mut i, mut ascii) = (from, true);
    loop {
        // Past the bytes that can be neither whitespace nor part of a multi-byte character
        // (most bytes of a word).
        i = skip_below_or_high::<0x21>(b, i);
        let Some(&x) = b.get(i) else {
            return (i, i, ascii);
        };
        if x < 0x80 {
            if BYTE_CLASS[usize::from(x)] == SPACE {
                return (i, i + 1, ascii);
            }
            i += 1;
            continue;
        }
        // A run of non-ASCII characters (CJK text is one), each skipped undecoded unless
        // its lead byte is one a whitespace character has.
        while let Some(&x) = b.get(i).filter(|&&x| x >= 0x80) {
            if let Some(space) = non_ascii_space_at(text, i, x) {
                return (i, i + space, ascii);
            }
            ascii = false;
            i += utf8_len(x);
        }
    }
}

/// The byte length of the whitespace character at `i` (lead byte `x` ≥ 0x80), if it is one.
/// Only C2, E1, E2 and E3 lead one (U+0085, U+00A0, U+1680, U+2000..U+205F, U+3000); E3
/// leads CJK punctuation and kana too, whitespace only as E3 80 80.
fn non_ascii_space_at(text: &str, i: usize, x: u8) -> Option<usize> {
    let b = text.as_bytes();
    match x {
        0xE3 => (b[i + 1] == 0x80 && b[i + 2] == 0x80).then_some(3),
        0xC2 | 0xE1 | 0xE2 => {
            let c = text[i..].chars().next().expect("i is a char boundary");
            c.is_whitespace().then(|| c.len_utf8())
        }
        _ => None,
    }
}

/// The byte length of the character a UTF-8 lead byte (≥ 0xC0) starts.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xE0..=0xEF => 3,
        0xF0.. => 4,
        _ => 2,
    }
}

/// Splits a whitespace-free chunk: each CJK character and each non-ASCII punctuation mark
/// of a chunk with CJK in it is a token of its own, the runs between them split as Latin
/// text; a chunk without CJK is Latin text.
fn split_cjk<'a>(chunk: &'a str, ascii: bool, out: &mut Vec<&'a str>) {
    if ascii || !chunk.chars().any(is_cjk) {
        split_latin(chunk, out);
        return;
    }
    let b = chunk.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let (len, alone) = match b[i] {
            ..0x80 => (1, false),
            _ if cjk_ideograph_at(b, i) => (3, true),
            _ => {
                let c = chunk[i..].chars().next().expect("i is a char boundary");
                (c.len_utf8(), is_cjk(c) || crate::text::is_punct(c))
            }
        };
        if alone {
            if start < i {
                split_latin(&chunk[start..i], out);
            }
            out.push(&chunk[i..i + len]);
            start = i + len;
        }
        i += len;
    }
    if start < b.len() {
        split_latin(&chunk[start..], out);
    }
}

/// Byte length of a run of two or more of the same `-'"!?` at the start (or end) of `s`,
/// when something else remains beside it.
fn punct_run(s: &str, at_end: bool) -> Option<usize> {
    let b = s.as_bytes();
    let first = if at_end { *b.last()? } else { *b.first()? };
    if !matches!(first, b'-' | b'\'' | b'"' | b'!' | b'?') {
        return None;
    }
    let run = if at_end {
        b.iter().rev().take_while(|&&x| x == first).count()
    } else {
        b.iter().take_while(|&&x| x == first).count()
    };
    (run >= 2 && run < b.len()).then_some(run)
}

fn is_url(s: &str) -> bool {
    ["http://", "https://", "www."]
        .iter()
        .any(|p| s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}

/// `s.to_lowercase() == w` for a lowercase ASCII `w` without a `k`, without allocating: no
/// other character lowercases to one of its letters (only the Kelvin sign becomes ASCII, `k`).
fn lower_is(s: &str, w: &str) -> bool {
    debug_assert!(!w.contains('k') && !w.contains(|c: char| c.is_ascii_uppercase()));
    s.eq_ignore_ascii_case(w)
}

/// `s.to_lowercase().ends_with(cl)` with something before it, for a lowercase clitic `cl`
/// (ASCII letters and an apostrophe, `'` or `’`), without allocating.
fn lower_ends_with(s: &str, cl: &str) -> bool {
    s.len() > cl.len() && s.as_bytes()[s.len() - cl.len()..].eq_ignore_ascii_case(cl.as_bytes())
}

/// A token of ASCII letters only or of digits only: no prefix, suffix, unit, clitic or
/// infix rule applies to it, only spaCy's split exceptions (`cannot` → `can`, `not`).
fn plain(chunk: &str) -> bool {
    let b = chunk.as_bytes();
    !b.is_empty() && (b.iter().all(u8::is_ascii_alphabetic) || b.iter().all(u8::is_ascii_digit))
}

fn split_latin<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    if plain(chunk) {
        return push_plain(chunk, out);
    }
    // The shapes most other tokens have, split as the full rules split them: one character
    // (nothing to peel off it), or a plain stem and one ASCII punctuation mark (`word,`,
    // `word.`, `42%`), which the rules peel off alone unless it is a period that stays.
    let Some(&last) = chunk.as_bytes().last() else {
        return; // no token (the rules give none either)
    };
    if chunk.chars().nth(1).is_none() {
        return out.push(chunk);
    }
    if last >= 0x80 {
        return split_rules(chunk, out);
    }
    let stem = &chunk[..chunk.len() - 1];
    if !plain(stem) || is_url(chunk) {
        return split_rules(chunk, out);
    }
    match last {
        b'.' if plain_period_stays(chunk, stem) => return out.push(chunk),
        b'.' => {}
        _ if !suffix_char(char::from(last)) => return split_rules(chunk, out),
        _ => {}
    }
    push_plain(stem, out);
    out.push(&chunk[stem.len()..]);
}

/// A [`plain`] token: itself, or the two words spaCy splits it into (`cannot` → `can`, `not`).
/// Inline: it runs on most tokens, and most are pushed as they are.
#[inline(always)]
fn push_plain<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    let b = chunk.as_bytes();
    if !(SPLIT_WORD_MIN..=SPLIT_WORD_MAX).contains(&b.len()) || !SPLIT_WORD_FIRST[usize::from(b[0])]
    {
        return out.push(chunk);
    }
    push_split_word(chunk, out);
}

/// [`push_plain`] for a token that may be one of [`SPLIT_WORDS`].
#[inline(never)]
fn push_split_word<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    match SPLIT_WORDS.iter().find(|(w, _)| lower_is(chunk, w)) {
        Some((_, at)) => out.extend([&chunk[..*at], &chunk[*at..]]),
        None => out.push(chunk),
    }
}

/// The first bytes of [`SPLIT_WORDS`], in either case.
static SPLIT_WORD_FIRST: [bool; 256] = {
    let mut set = [false; 256];
    let mut i = 0;
    while i < SPLIT_WORDS.len() {
        let c = SPLIT_WORDS[i].0.as_bytes()[0];
        set[c.to_ascii_lowercase() as usize] = true;
        set[c.to_ascii_uppercase() as usize] = true;
        i += 1;
    }
    set
};

/// Whether the final period of `s` (`stem` and `.`) stays on the token: abbreviations,
/// `e.g.`-style acronyms, single letters and a period after one capital (`PhD.`, `U.S.`)
/// keep it; after two capitals (`USA.`) it splits.
fn period_stays(s: &str, stem: &str) -> bool {
    let mut rev = stem.chars().rev();
    let (p1, p2) = (rev.next(), rev.next());
    let upper = |x: Option<char>| x.is_some_and(char::is_uppercase);
    let acronym = stem.contains('.') && stem.chars().all(|ch| ch == '.' || is_alphabetic(ch));
    (s.len() <= ABBREVIATION_MAX_LEN && ABBREVIATIONS.iter().any(|a| lower_is(s, a)))
        || acronym
        || (stem.chars().count() == 1 && stem.chars().all(is_alphabetic))
        || (upper(p1) && !upper(p2))
}

/// [`period_stays`] for a [`plain`] stem: ASCII letters or digits, so no acronym, and its
/// characters are its bytes.
fn plain_period_stays(s: &str, stem: &str) -> bool {
    let b = stem.as_bytes();
    let upper = |x: Option<&u8>| x.is_some_and(u8::is_ascii_uppercase);
    (s.len() <= ABBREVIATION_MAX_LEN && ABBREVIATIONS.iter().any(|a| lower_is(s, a)))
        || (b.len() == 1 && b[0].is_ascii_alphabetic())
        || (upper(b.last()) && !upper(b.len().checked_sub(2).map(|i| &b[i])))
}

/// The full rules (also what [`plain`] tokens would get).
fn split_rules<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    if is_url(chunk) {
        out.push(chunk);
        return;
    }
    let mut s = chunk;
    // Prefixes.
    loop {
        if let Some(rest) = s.strip_prefix("...") {
            out.push(&s[..3]);
            s = rest;
            continue;
        }
        // Runs of one punctuation character (`--`, `''`, `!!`) are one token.
        if let Some(run) = punct_run(s, false) {
            out.push(&s[..run]);
            s = &s[run..];
            continue;
        }
        match s.chars().next() {
            Some('+') if s.len() > 1 && !s[1..].starts_with(|ch: char| ch.is_ascii_digit()) => {
                out.push(&s[..1]);
                s = &s[1..];
            }
            Some(c) if prefix_char(c) && s.len() > c.len_utf8() => {
                out.push(&s[..c.len_utf8()]);
                s = &s[c.len_utf8()..];
            }
            _ => break,
        }
    }
    // Suffixes, collected back to front.
    let mut suffixes: SmallVec<[&str; 4]> = SmallVec::new();
    loop {
        if s.len() > 3 && s.ends_with("...") {
            suffixes.push(&s[s.len() - 3..]);
            s = &s[..s.len() - 3];
            continue;
        }
        if let Some(run) = punct_run(s, true) {
            suffixes.push(&s[s.len() - run..]);
            s = &s[..s.len() - run];
            continue;
        }
        let Some(c) = s.chars().next_back() else {
            break;
        };
        let cl = c.len_utf8();
        if s.len() == cl {
            break;
        }
        if suffix_char(c) {
            suffixes.push(&s[s.len() - cl..]);
            s = &s[..s.len() - cl];
            continue;
        }
        if c == '.' {
            let stem = &s[..s.len() - 1];
            if period_stays(s, stem) {
                break;
            }
            let mut rev = stem.chars().rev();
            let (p1, p2) = (rev.next(), rev.next());
            // `300m.`: the unit keeps the period (`m.`), as in spaCy's exceptions.
            if p1.is_some_and(|ch| ch.is_ascii_alphabetic())
                && p2.is_some_and(|ch| ch.is_ascii_digit())
            {
                suffixes.push(&s[s.len() - 2..]);
                s = &s[..s.len() - 2];
                continue;
            }
            suffixes.push(&s[s.len() - 1..]);
            s = stem;
            continue;
        }
        if let Some(u) = unit_suffix(s) {
            suffixes.push(&s[s.len() - u..]);
            s = &s[..s.len() - u];
            continue;
        }
        // Clitics start with an apostrophe: most tokens have none near their end.
        // A byte prefilter for `'` and `’` (E2 80 99) among the bytes a clitic can cover:
        // the clitic search below is exact.
        let tail = &s.as_bytes()[s.len().saturating_sub(CLITIC_MAX_LEN)..];
        if !tail.iter().any(|&b| b == b'\'' || b == 0xE2) {
            break;
        }
        if let Some(cl) = CLITICS.iter().find(|cl| lower_ends_with(s, cl)) {
            let at = s.len() - cl.len();
            if s.is_char_boundary(at) && s[..at].chars().next_back().is_some_and(is_alphanumeric) {
                suffixes.push(&s[at..]);
                s = &s[..at];
                continue;
            }
        }
        break;
    }
    match SPLIT_WORDS.iter().find(|(w, _)| lower_is(s, w)) {
        Some((_, at)) => {
            out.push(&s[..*at]);
            out.push(&s[*at..]);
        }
        None => split_infixes(s, out),
    }
    out.extend(suffixes.into_iter().rev());
}

/// The byte length of the unit that ends `s` right after a digit (`300m` → 1), if any. A
/// unit holds no digit, so the only candidate is all that follows the last digit, and that
/// digit lies among the last [`UNIT_MAX_LEN`] + 1 bytes: only those are searched.
fn unit_suffix(s: &str) -> Option<usize> {
    let from = s.len().saturating_sub(UNIT_MAX_LEN + 1);
    let d = from + s.as_bytes()[from..].iter().rposition(u8::is_ascii_digit)?;
    let tail = &s[d + 1..];
    (!tail.is_empty() && UNITS.contains(&tail)).then_some(tail.len())
}

/// The longest unit and the longest clitic, in bytes.
const UNIT_MAX_LEN: usize = max_len(UNITS);
const CLITIC_MAX_LEN: usize = max_len(CLITICS);

const fn max_len(list: &[&str]) -> usize {
    let (mut max, mut i) = (0, 0);
    while i < list.len() {
        if list[i].len() > max {
            max = list[i].len();
        }
        i += 1;
    }
    max
}

/// The bytes an infix split can start at (0xE2 leads `–` and `—`), as a table: most tokens
/// have none, and this test runs on every byte of every token the fast paths leave.
static INFIX_BYTES: [bool; 256] = byte_set(b"-~+*^/:<>=,.\xE2");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        set[bytes[i] as usize] = true;
        i += 1;
    }
    set
}

/// Hyphens and dashes between letters, `...` inside a token, `/` or `:` before a letter.
fn split_infixes<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    if !s.bytes().any(|b| INFIX_BYTES[usize::from(b)]) {
        if !s.is_empty() {
            out.push(s);
        }
        return;
    }
    if s.is_ascii() {
        // A character per byte: no list of them to build.
        let b = s.as_bytes();
        infix_scan(s, b.len(), |i| b.get(i).map(|&x| (i, char::from(x))), out);
    } else {
        infix_chars(s, out);
    }
}

/// [`infix_scan`] over a list of `s`'s characters (any text; ASCII takes the byte path).
fn infix_chars<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    infix_scan(s, chars.len(), |i| chars.get(i).copied(), out);
}

/// The infix rules over `s`'s `n` characters, `at(i)` giving the i-th with its byte offset.
fn infix_scan<'a>(
    s: &'a str,
    n: usize,
    at: impl Fn(usize) -> Option<(usize, char)>,
    out: &mut Vec<&'a str>,
) {
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let (pos, c) = at(i).expect("i < n");
        if !INFIX_BYTES[usize::from(s.as_bytes()[pos])] {
            // No rule splits at a character that does not start with one of these bytes.
            i += 1;
            continue;
        }
        let prev = i.checked_sub(1).and_then(&at).map(|x| x.1);
        let next = at(i + 1).map(|x| x.1);
        let letter = |x: Option<char>| x.is_some_and(is_alphabetic);
        let alnum = |x: Option<char>| x.is_some_and(is_alphanumeric);
        let digit = |x: Option<char>| x.is_some_and(|c| c.is_ascii_digit());
        let split = match c {
            '-' | '–' | '—' | '~' => {
                alnum(prev) && letter(next) || digit(prev) && (digit(next) || next == Some('-'))
            }
            '+' | '*' | '^' => digit(prev) && (digit(next) || next == Some('-')),
            '/' | ':' | '<' | '>' | '=' => alnum(prev) && letter(next),
            ',' => letter(prev) && letter(next),
            '.' if s[pos..].starts_with("...") => pos > 0 && pos + 3 < s.len(),
            '.' => prev.is_some_and(char::is_lowercase) && next.is_some_and(char::is_uppercase),
            _ => false,
        };
        // `--` (or longer) between words is one infix token.
        let dash_run = if c == '-' {
            s[pos..].bytes().take_while(|b| *b == b'-').count()
        } else {
            0
        };
        let split = split
            || (dash_run >= 2
                && alnum(prev)
                && s[pos + dash_run..]
                    .chars()
                    .next()
                    .is_some_and(is_alphanumeric));
        if split && pos > start {
            out.push(&s[start..pos]);
            let len = if s[pos..].starts_with("...") {
                3
            } else if dash_run >= 2 {
                dash_run
            } else {
                c.len_utf8()
            };
            out.push(&s[pos..pos + len]);
            start = pos + len;
            while at(i).is_some_and(|(p, _)| p < start) {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`split_cjk`] as it was written first: every character decoded.
    fn split_cjk_by_characters(chunk: &str) -> Vec<&str> {
        let mut out = vec![];
        if chunk.is_ascii() || !chunk.chars().any(is_cjk) {
            split_latin(chunk, &mut out);
            return out;
        }
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if is_cjk(c) || crate::text::is_punct(c) && !c.is_ascii() {
                if start < i {
                    split_latin(&chunk[start..i], &mut out);
                }
                out.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            split_latin(&chunk[start..], &mut out);
        }
        out
    }

    /// What one of the splitting functions makes of `w`.
    fn tokens<'a>(split: fn(&'a str, &mut Vec<&'a str>), w: &'a str) -> Vec<&'a str> {
        let mut out = vec![];
        split(w, &mut out);
        out
    }

    proptest::proptest! {
        // Enough cases that the rarer shapes (`www.`, `Mr.`, `a.Z`) come up.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The fast paths (plain tokens, one character, a plain stem and one mark) give what
        /// the full rules give.
        #[test]
        fn plain_tokens_split_as_the_rules_do(w in "([a-zA-Z]{1,6}|[0-9]{1,4}|cannot|GONNA|Wanna|www|WwW|Mr|mrs|e|U|PhD|USA|aB)?[.,;)(\"'%{|’é-]?|.") {
            proptest::prop_assert_eq!(tokens(split_latin, &w), tokens(split_rules, &w));
        }

        /// An ASCII token's infixes, read byte by byte, split as from its list of characters
        /// (one letter of each case and a digit: the rules look at no more than those classes).
        #[test]
        fn ascii_infixes_split_as_by_characters(w in "[aZ0.:/<>=,~+*^-]{0,12}") {
            proptest::prop_assert_eq!(tokens(split_infixes, &w), tokens(infix_chars, &w));
        }
    }

    proptest::proptest! {
        /// The byte-level whitespace split yields what `split(char::is_whitespace)` does,
        /// Unicode spaces included, and says which chunks are ASCII.
        #[test]
        fn chunks_are_the_whitespace_split(t in "[a \t\n\x0b\x0c\r\x1c\u{85}\u{a0}\u{2003}\u{3000}é山\u{1680}\u{1681}\u{2028}\u{202f}\u{205f}\u{2060}—\u{3001}ф𝄞]{0,30}") {
            let mut got = vec![];
            for_each_chunk(&t, |c, ascii| got.push((c, ascii)));
            let want: Vec<_> = t
                .split(char::is_whitespace)
                .filter(|c| !c.is_empty())
                .map(|c| (c, c.is_ascii()))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// A chunk with CJK splits as by decoding every character (Han ideographs are
        /// recognised from their bytes; the characters around U+4E00 and U+9FFF are not all
        /// CJK).
        #[test]
        fn cjk_chunks_split_as_by_characters(t in "[a.,é山\u{4dbf}\u{4dc0}\u{4dff}\u{4e00}\u{9fff}\u{a000}\u{3001}\u{ff0c}—ф𝄞\u{20000}가]{0,20}") {
            let mut got = vec![];
            split_cjk(&t, t.is_ascii(), &mut got);
            proptest::prop_assert_eq!(got, split_cjk_by_characters(&t));
        }

        /// The one-scan path for plain runs gives what splitting every whitespace-separated
        /// chunk with the rules does (runs of letters or digits ending at every kind of
        /// byte the scan can stop at).
        #[test]
        fn words_are_the_chunks_split(t in "([a-zA-Z]{1,7}|[0-9]{1,3}|cannot|[ \t\n\r\x0b\x1c\u{85}\u{a0}\u{3000}]|[.,'()é山_-])*") {
            let mut want = vec![];
            for c in t.split(char::is_whitespace).filter(|c| !c.is_empty()) {
                split_cjk(c, c.is_ascii(), &mut want);
            }
            proptest::prop_assert_eq!(words(&t), want);
        }

        /// A clitic after a word is split off, straight or curly apostrophe, with or
        /// without punctuation after it (the apostrophe prefilter looks at the token's
        /// last bytes only).
        #[test]
        fn clitics_are_split_off(
            stem in "[a-zA-Z]{1,5}",
            k in 0..CLITICS.len(),
            punct in "[.,)!\"]{0,2}",
        ) {
            let token = format!("{stem}{}{punct}", CLITICS[k]);
            let split = tokens(split_rules, &token);
            proptest::prop_assert!(split.contains(&CLITICS[k]), "{:?}", split);
        }

        /// The unit found after the last digit is the first of the list that the token ends
        /// with right after a digit (the search this replaced).
        #[test]
        fn units_are_what_follows_the_last_digit(
            s in "[a-zA-Z0-9./²³µ-]{0,4}[0-9]?(km²|m²|m|m/s|mm|MB|M|K|hPa|Pa|µm|x|g|mg|²)?",
        ) {
            let first = UNITS.iter().find(|u| {
                s.len() > u.len()
                    && s.ends_with(*u)
                    && s.is_char_boundary(s.len() - u.len())
                    && s[..s.len() - u.len()].chars().next_back().is_some_and(|ch| ch.is_ascii_digit())
            });
            proptest::prop_assert_eq!(unit_suffix(&s), first.map(|u| u.len()));
        }

        /// The allocation-free case tests answer what lowercasing the token would.
        #[test]
        fn case_tests_as_lowercasing(s in "[a-zA-Z'’.\u{212a}\u{130}\u{3a3}]{0,7}(n't|'s|’S|'LL|'d)?") {
            let lower = s.to_lowercase();
            for w in SPLIT_WORDS.iter().map(|(w, _)| *w).chain(ABBREVIATIONS.iter().copied()) {
                proptest::prop_assert_eq!(lower_is(&s, w), lower == w);
            }
            for cl in CLITICS {
                proptest::prop_assert_eq!(lower_ends_with(&s, cl), lower.ends_with(cl) && lower.len() > cl.len());
            }
            for p in ["http://", "https://", "www."] {
                let (upper, lower) = (p.to_uppercase() + &s, p.to_string() + &s);
                proptest::prop_assert!(is_url(&upper) && is_url(&lower));
            }
            proptest::prop_assert_eq!(is_url(&s), s.to_ascii_lowercase().starts_with("www."));
        }
    }

    #[test]
    fn split_word_bounds_cover_the_list() {
        for (w, _) in SPLIT_WORDS {
            assert!((SPLIT_WORD_MIN..=SPLIT_WORD_MAX).contains(&w.len()), "{w}");
            let first = w.as_bytes()[0];
            assert!(
                SPLIT_WORD_FIRST[usize::from(first.to_ascii_uppercase())],
                "{w}"
            );
            assert!(
                SPLIT_WORD_FIRST[usize::from(first.to_ascii_lowercase())],
                "{w}"
            );
        }
    }

    /// The masks answer what the lists do.
    #[test]
    fn char_sets_as_lists() {
        for c in (0..0x3100).filter_map(char::from_u32) {
            assert_eq!(prefix_char(c), PREFIX_CHARS.contains(&c));
            assert_eq!(suffix_char(c), SUFFIX_CHARS.contains(&c));
        }
    }

    /// Each infix character splits where its rule says (and the scan skips no candidate).
    #[test]
    fn every_infix_character_splits() {
        let cases = [
            ("a-b", "-"),
            ("a–b", "–"),
            ("a—b", "—"),
            ("a~b", "~"),
            ("3+4", "+"),
            ("3*4", "*"),
            ("3^4", "^"),
            ("a/b", "/"),
            ("a:b", ":"),
            ("a<b", "<"),
            ("a>b", ">"),
            ("a=b", "="),
            ("a,b", ","),
            ("a...b", "..."),
            ("a.B", "."),
            ("a--b", "--"),
        ];
        for (token, infix) in cases {
            let (l, r) = token.split_once(infix).unwrap();
            assert_eq!(words(token), vec![l, infix, r], "{token}");
        }
    }

    #[test]
    fn english_like_spacy() {
        assert_eq!(
            words("wait--what?! ''quoted''"),
            vec!["wait", "--", "what", "?", "!", "''", "quoted", "''"]
        );
        assert_eq!(words("Hello, world!"), vec!["Hello", ",", "world", "!"]);
        assert_eq!(
            words("I don't know (really)."),
            vec!["I", "do", "n't", "know", "(", "really", ")", "."]
        );
        assert_eq!(
            words("well-known U.S. policy, e.g. taxes"),
            vec!["well", "-", "known", "U.S.", "policy", ",", "e.g.", "taxes"]
        );
        assert_eq!(
            words("\"Wait...\" she said"),
            vec!["\"", "Wait", "...", "\"", "she", "said"]
        );
        assert_eq!(
            words("Mr. Smith's car costs $5."),
            vec!["Mr.", "Smith", "'s", "car", "costs", "$", "5", "."]
        );
        assert_eq!(
            words("a 300m deal, 4.5%. 12-nation 737-800"),
            vec![
                "a", "300", "m", "deal", ",", "4.5", "%", ".", "12", "-", "nation", "737", "-",
                "800"
            ]
        );
        assert_eq!(
            words("It cannot be 10.9bn."),
            vec!["It", "can", "not", "be", "10.9bn", "."]
        );
        assert_eq!(
            words("a PhD. in USA. £300m. end.Next"),
            vec!["a", "PhD.", "in", "USA", ".", "£", "300", "m.", "end", ".", "Next"]
        );
        assert_eq!(
            words("see https://example.com/a,b now"),
            vec!["see", "https://example.com/a,b", "now"]
        );
    }

    #[test]
    fn chinese_is_split_per_character() {
        assert_eq!(
            words("股票代码：600519。"),
            vec!["股", "票", "代", "码", "：", "600519", "。"]
        );
        assert_eq!(words("K线图"), vec!["K", "线", "图"]);
    }
}

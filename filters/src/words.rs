//! Word splitting for the quality rules.
//!
//! Latin-script text follows the shape of spaCy's English tokenizer (what datatrove's rules
//! count with): whitespace split, then leading and trailing punctuation, clitics (`n't`,
//! `'s`, `'re`...) and infix hyphens peeled off as tokens of their own. CJK text has no
//! spaces: each ideograph is one word, so Chinese documents get meaningful word counts
//! instead of one giant "word" per line.

use crate::text::is_cjk;

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
/// Units split off a number they follow (`300m` → `300`, `m`), as spaCy's suffix rules do.
const UNITS: &[&str] = &[
    "km²", "km³", "km", "m²", "m³", "dm²", "dm³", "dm", "cm²", "cm³", "cm", "mm²", "mm³", "mm",
    "m", "ha", "µm", "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s", "km/h",
    "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G",
    "M", "K",
];
/// Words spaCy splits by exception.
const SPLIT_WORDS: &[(&str, usize)] = &[("cannot", 3), ("gonna", 3), ("gotta", 3), ("wanna", 3)];
const ABBREVIATIONS: &[&str] = &[
    "mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "jr.", "sr.", "inc.", "ltd.", "co.", "corp.",
    "prof.", "no.", "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.",
    "oct.", "nov.", "dec.", "mt.", "gen.", "gov.", "sen.", "rep.", "rev.", "e.g.", "i.e.", "a.m.",
    "p.m.",
];

/// Splits `text` into words and punctuation tokens (slices of `text`), whitespace dropped.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for chunk in text.split(char::is_whitespace).filter(|c| !c.is_empty()) {
        split_cjk(chunk, &mut out);
    }
    out
}

fn split_cjk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    if chunk.is_ascii() || !chunk.chars().any(is_cjk) {
        split_latin(chunk, out);
        return;
    }
    let mut start = 0;
    for (i, c) in chunk.char_indices() {
        if is_cjk(c) || crate::text::is_punct(c) && !c.is_ascii() {
            if start < i {
                split_latin(&chunk[start..i], out);
            }
            out.push(&chunk[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < chunk.len() {
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
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://") || l.starts_with("www.")
}

/// A token of ASCII letters only or of digits only: no prefix, suffix, unit, clitic or
/// infix rule applies to it, only spaCy's split exceptions (`cannot` → `can`, `not`).
fn plain(chunk: &str) -> bool {
    let b = chunk.as_bytes();
    !b.is_empty() && (b.iter().all(u8::is_ascii_alphabetic) || b.iter().all(u8::is_ascii_digit))
}

fn split_latin<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    if plain(chunk) {
        match SPLIT_WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(chunk))
        {
            Some((_, at)) => out.extend([&chunk[..*at], &chunk[*at..]]),
            None => out.push(chunk),
        }
        return;
    }
    split_rules(chunk, out);
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
            Some(c) if PREFIX_CHARS.contains(&c) && s.len() > c.len_utf8() => {
                out.push(&s[..c.len_utf8()]);
                s = &s[c.len_utf8()..];
            }
            _ => break,
        }
    }
    // Suffixes, collected back to front.
    let mut suffixes: Vec<&str> = Vec::new();
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
        if SUFFIX_CHARS.contains(&c) {
            suffixes.push(&s[s.len() - cl..]);
            s = &s[..s.len() - cl];
            continue;
        }
        if c == '.' {
            let lower = s.to_lowercase();
            let stem = &s[..s.len() - 1];
            let mut rev = stem.chars().rev();
            let (p1, p2) = (rev.next(), rev.next());
            let upper = |x: Option<char>| x.is_some_and(char::is_uppercase);
            // Abbreviations, `e.g.`-style acronyms, single letters and a period after one
            // capital (`PhD.`, `U.S.`) stay attached; after two capitals (`USA.`) it splits.
            let acronym =
                stem.contains('.') && stem.chars().all(|ch| ch == '.' || ch.is_alphabetic());
            let keep = ABBREVIATIONS.contains(&lower.as_str())
                || acronym
                || (stem.chars().count() == 1 && stem.chars().all(char::is_alphabetic))
                || (upper(p1) && !upper(p2));
            if keep {
                break;
            }
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
        // Units follow a digit; clitics start with an apostrophe: most tokens have neither.
        let has_digit = s.bytes().any(|b| b.is_ascii_digit());
        if let Some(u) = UNITS.iter().filter(|_| has_digit).find(|u| {
            s.len() > u.len()
                && s.ends_with(*u)
                && s.is_char_boundary(s.len() - u.len())
                && s[..s.len() - u.len()]
                    .chars()
                    .next_back()
                    .is_some_and(|ch| ch.is_ascii_digit())
        }) {
            suffixes.push(&s[s.len() - u.len()..]);
            s = &s[..s.len() - u.len()];
            continue;
        }
        if !s.contains(['\'', '’']) {
            break;
        }
        let lower = s.to_lowercase();
        if let Some(cl) = CLITICS
            .iter()
            .find(|cl| lower.ends_with(*cl) && lower.len() > cl.len())
        {
            let at = s.len() - cl.len();
            if s.is_char_boundary(at)
                && s[..at]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
            {
                suffixes.push(&s[at..]);
                s = &s[..at];
                continue;
            }
        }
        break;
    }
    let lower = s.to_lowercase();
    match SPLIT_WORDS.iter().find(|(w, _)| *w == lower) {
        Some((_, at)) => {
            out.push(&s[..*at]);
            out.push(&s[*at..]);
        }
        None => split_infixes(s, out),
    }
    out.extend(suffixes.into_iter().rev());
}

/// Hyphens and dashes between letters, `...` inside a token, `/` or `:` before a letter.
fn split_infixes<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let prev = i.checked_sub(1).map(|j| chars[j].1);
        let next = chars.get(i + 1).map(|x| x.1);
        let letter = |x: Option<char>| x.is_some_and(char::is_alphabetic);
        let alnum = |x: Option<char>| x.is_some_and(char::is_alphanumeric);
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
                    .is_some_and(char::is_alphanumeric));
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
            while i < chars.len() && chars[i].0 < start {
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

    proptest::proptest! {
        /// The fast path for plain tokens gives what the full rules give.
        #[test]
        fn plain_tokens_split_as_the_rules_do(w in "([a-zA-Z]{1,9}|[0-9]{1,6}|cannot|GONNA|Wanna|gotta)") {
            let (mut fast, mut full) = (vec![], vec![]);
            split_latin(&w, &mut fast);
            split_rules(&w, &mut full);
            proptest::prop_assert_eq!(fast, full);
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

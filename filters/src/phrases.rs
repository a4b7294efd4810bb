//! Phrase lists matched with Aho-Corasick: case-insensitive for ASCII, on word boundaries
//! for Latin-script phrases (so `ass` does not match in `class`), as plain substrings for CJK
//! phrases (Chinese has no spaces to bound a word). Lists are data files: one phrase a line,
//! `#` comments, `re:` lines are regular expressions.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

pub struct PhraseMatcher {
    ac: Option<AhoCorasick>,
    bounded: Vec<bool>,
    regexes: Vec<Regex>,
    /// Phrases (and regex sources) in the order their ids refer to.
    pub phrases: Vec<String>,
}

/// A match: byte span and the index of the phrase (regexes after the plain phrases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhraseMatch {
    pub start: usize,
    pub end: usize,
    pub phrase: usize,
}

/// Reads a list file's entries (comments and blank lines skipped).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

impl PhraseMatcher {
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let mut plain = Vec::new();
        let mut regexes = Vec::new();
        let mut re_src = Vec::new();
        for e in entries {
            match e.strip_prefix("re:") {
                Some(src) => {
                    regexes
                        .push(Regex::new(src).map_err(|err| format!("bad regex '{src}': {err}"))?);
                    re_src.push(e.clone());
                }
                None => plain.push(e.to_lowercase()),
            }
        }
        let bounded = plain
            .iter()
            .map(|p| p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
            .collect();
        let ac = if plain.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&plain)
                    .map_err(|e| e.to_string())?,
            )
        };
        plain.extend(re_src);
        Ok(PhraseMatcher {
            ac,
            bounded,
            regexes,
            phrases: plain,
        })
    }

    pub fn find(&self, text: &str) -> Vec<PhraseMatch> {
        let bytes = text.as_bytes();
        let word = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric());
        let mut out = Vec::new();
        if let Some(ac) = &self.ac {
            for m in ac.find_iter(text) {
                let id = m.pattern().as_usize();
                if self.bounded[id] && ((m.start() > 0 && word(m.start() - 1)) || word(m.end())) {
                    continue;
                }
                out.push(PhraseMatch {
                    start: m.start(),
                    end: m.end(),
                    phrase: id,
                });
            }
        }
        let base = self.bounded.len();
        for (k, re) in self.regexes.iter().enumerate() {
            out.extend(re.find_iter(text).map(|m| PhraseMatch {
                start: m.start(),
                end: m.end(),
                phrase: base + k,
            }));
        }
        out.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_for_latin_substrings_for_cjk() {
        let m = PhraseMatcher::new(&parse_list("# c\nstock\n股票\nre:[0-9]{6}\\.SH\n")).unwrap();
        let hits = |t: &str| m.find(t).len();
        assert_eq!(hits("Stock prices and stocks"), 1);
        assert_eq!(hits("livestock"), 0);
        assert_eq!(hits("今天股票上涨，600519.SH 领涨"), 2);
    }
}

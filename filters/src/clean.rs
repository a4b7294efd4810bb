//! `clean`: Unicode normalisation (NFC, or NFKC), ANSI escape sequences and control
//! characters removed, cheap mojibake repair (UTF-8 read as Latin-1/CP1252), boilerplate lines
//! (cookie banners, "read more", 版权所有...) dropped, whitespace collapsed; documents left
//! empty are rejected (`clean.empty`). Counts what it changed per kind.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use pipeline::document::{str_column, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{Decisions, Stage, StageContext, StageEnv, StageError, StageKind, StageOutput};
use regex::Regex;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    Nfc,
    Nfkc,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanConfig {
    pub normalization: Normalization,
    pub remove_ansi: bool,
    pub remove_control: bool,
    pub fix_mojibake: bool,
    pub drop_boilerplate: bool,
    /// Lines longer than this are never treated as boilerplate.
    pub max_boilerplate_line_chars: usize,
    /// Extra boilerplate phrases besides the bundled list.
    pub boilerplate_phrases: Vec<String>,
    pub collapse_whitespace: bool,
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig {
            normalization: Normalization::Nfc,
            remove_ansi: true,
            remove_control: true,
            fix_mojibake: true,
            drop_boilerplate: true,
            max_boilerplate_line_chars: 120,
            boilerplate_phrases: vec![],
            collapse_whitespace: true,
        }
    }
}

pub struct Cleaner {
    c: CleanConfig,
    ansi: Regex,
    boilerplate: AhoCorasick,
}

/// What cleaning changed in one document.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CleanCounts {
    pub ansi: u64,
    pub control: u64,
    pub mojibake: u64,
    pub boilerplate_lines: u64,
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: CleanConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(Cleaner::new(c)?)))
}

const CP1252: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// Repairs text that is UTF-8 decoded as CP1252/Latin-1 (`cafÃ©` → `café`), segment by
/// segment: only runs of such characters are re-decoded, and only when that gives valid UTF-8.
pub fn fix_mojibake(text: &str) -> Option<String> {
    if !text.contains(['Ã', 'Â', 'â', 'Ð', 'Ñ', 'æ', 'å', 'ä', 'ç', 'é', 'è']) {
        return None;
    }
    let to_byte = |c: char| -> Option<u8> {
        let u = c as u32;
        if u < 0x80 {
            None
        } else if u <= 0xFF {
            Some(u as u8)
        } else {
            CP1252.iter().find(|(ch, _)| *ch == c).map(|(_, b)| *b)
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A run of chars that map to high bytes.
        let mut j = i;
        let mut bytes = Vec::new();
        while j < chars.len() {
            match to_byte(chars[j]) {
                Some(b) => bytes.push(b),
                None => break,
            }
            j += 1;
        }
        if j > i {
            match std::str::from_utf8(&bytes) {
                Ok(s) if bytes.len() >= 2 => {
                    out.push_str(s);
                    changed = true;
                }
                _ => out.extend(&chars[i..j]),
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

impl Cleaner {
    pub fn new(c: CleanConfig) -> Result<Self, String> {
        let mut phrases: Vec<String> = include_str!("../data/boilerplate.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .collect();
        phrases.extend(c.boilerplate_phrases.iter().map(|p| p.to_lowercase()));
        let boilerplate = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&phrases)
            .map_err(|e| format!("boilerplate_phrases: {e}"))?;
        Ok(Cleaner {
            c,
            ansi: Regex::new(
                r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]",
            )
            .expect("valid regex"),
            boilerplate,
        })
    }

    /// Cleans one text; returns it with the counts of what changed.
    pub fn clean(&self, text: &str) -> (String, CleanCounts) {
        let c = &self.c;
        let mut n = CleanCounts::default();
        let mut t = if c.remove_ansi && text.contains('\x1b') {
            let before = self.ansi.find_iter(text).count() as u64;
            n.ansi = before;
            self.ansi.replace_all(text, "").into_owned()
        } else {
            text.to_string()
        };
        if c.fix_mojibake {
            // Text encoded twice needs two passes (`Ã¢Â\u{80}Â\u{99}` → `â\u{80}\u{99}` → `’`).
            for _ in 0..3 {
                match fix_mojibake(&t) {
                    Some(fixed) => {
                        n.mojibake = 1;
                        t = fixed;
                    }
                    None => break,
                }
            }
        }
        t = match c.normalization {
            Normalization::Nfc => t.nfc().collect(),
            Normalization::Nfkc => t.nfkc().collect(),
            Normalization::None => t,
        };
        if c.remove_control {
            let before = t.chars().count();
            t = t
                .chars()
                .filter_map(|ch| match ch {
                    '\n' => Some('\n'),
                    '\t' => Some(' '),
                    '\r' => None,
                    ch if ch.is_control() || matches!(ch, '\u{200B}' | '\u{FEFF}' | '\u{00AD}') => {
                        None
                    }
                    ch => Some(ch),
                })
                .collect();
            n.control = (before - t.chars().count()) as u64;
        }
        let mut lines: Vec<String> = Vec::new();
        for line in t.split('\n') {
            let line = if c.collapse_whitespace {
                line.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                line.to_string()
            };
            if c.drop_boilerplate
                && !line.is_empty()
                && line.chars().count() <= c.max_boilerplate_line_chars
                && self.boilerplate.is_match(&line)
            {
                n.boilerplate_lines += 1;
                continue;
            }
            lines.push(line);
        }
        let mut out = String::with_capacity(t.len());
        let mut blank_run = 0;
        for line in lines {
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 && c.collapse_whitespace {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            if !out.is_empty() || !line.is_empty() {
                out.push_str(&line);
                out.push('\n');
            }
        }
        (out.trim_end().to_string(), n)
    }
}

impl Stage for Cleaner {
    fn name(&self) -> &str {
        "clean"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let mut d = Decisions::with_capacity(batch.num_rows());
        let mut out = StringBuilder::with_capacity(text.len(), text.value_data().len());
        let mut total = CleanCounts::default();
        for i in 0..text.len() {
            let (t, n) = self.clean(text.value(i));
            total.ansi += n.ansi;
            total.control += n.control;
            total.mojibake += n.mojibake;
            total.boilerplate_lines += n.boilerplate_lines;
            if t.is_empty() {
                d.reject("clean.empty", None);
                out.append_value(text.value(i));
            } else {
                d.keep();
                out.append_value(t);
            }
        }
        ctx.count("ansi_sequences", total.ansi);
        ctx.count("control_chars", total.control);
        ctx.count("mojibake_docs", total.mojibake);
        ctx.count("boilerplate_lines", total.boilerplate_lines);
        let idx = batch.schema().index_of(TEXT)?;
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        cols[idx] = Arc::new(out.finish());
        Ok(d.finish(RecordBatch::try_new(batch.schema(), cols)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaner() -> Cleaner {
        Cleaner::new(CleanConfig::default()).unwrap()
    }

    #[test]
    fn ansi_control_and_whitespace() {
        // fortunes-zh style colour codes around a Tang poem line.
        let (t, n) = cleaner()
            .clean("\x1b[1;33m床前明月光\x1b[0m，  疑是\t地上霜。\x07\r\n\n\n\n举头望明月");
        assert_eq!(t, "床前明月光， 疑是 地上霜。\n\n举头望明月");
        assert_eq!(n.ansi, 2);
        assert_eq!(n.control, 2);
    }

    #[test]
    fn mojibake_is_repaired() {
        assert_eq!(
            fix_mojibake("cafÃ© and naÃ¯ve â€œquotesâ€\u{9d}").as_deref(),
            Some("café and naïve “quotes”")
        );
        // `à` is C3 A0: its mojibake is Ã followed by a no-break space.
        assert_eq!(
            fix_mojibake("Ã©tÃ© Ã\u{a0}Paris").as_deref(),
            Some("été àParis")
        );
        assert_eq!(fix_mojibake("café déjà vu"), None);
        // Doubly encoded, as in Debian's fortunes (law): fixed by the cleaner's second pass.
        assert_eq!(cleaner().clean("donÃ¢Â\u{80}Â\u{99}t").0, "don’t");
        assert_eq!(fix_mojibake("plain ascii"), None);
    }

    #[test]
    fn boilerplate_lines_are_dropped() {
        let (t, n) = cleaner().clean("Skip to content\nThe actual article text is here.\nRead more\n版权所有 © 2024\n正文内容。");
        assert_eq!(t, "The actual article text is here.\n正文内容。");
        assert_eq!(n.boilerplate_lines, 3);
        // A long paragraph that mentions a phrase is content, not boilerplate.
        let long = format!(
            "{}read more about it in the report.",
            "The council discussed the budget at length ".repeat(4)
        );
        assert_eq!(cleaner().clean(&long).0, long);
    }

    #[test]
    fn nfkc_is_optional() {
        let c = Cleaner::new(CleanConfig {
            normalization: Normalization::Nfkc,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.clean("ＡＢＣ１２３").0, "ABC123");
        assert_eq!(cleaner().clean("ＡＢＣ１２３").0, "ＡＢＣ１２３");
        assert_eq!(cleaner().clean("e\u{301}").0, "é");
    }
}

//! `clean`: Unicode normalisation (NFC, or NFKC), ANSI escape sequences and control
//! characters removed, cheap mojibake repair (UTF-8 read as Latin-1/CP1252), trailing spaces
//! and long blank-line runs removed; layout (indentation, tabs, line structure) kept, so code,
//! tables and poems survive. `mode = "prose"` also collapses white space and drops boilerplate
//! lines (cookie banners, "read more", 版权所有...). Documents left empty are rejected
//! (`clean.empty`). Counts what it changed per kind.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use pipeline::scan::{below_or_high, cjk_ideograph_at, skip_below_or_high};
use pipeline::stage::parse_stage_table;
use pipeline::{Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use regex::Regex;
use serde::Deserialize;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    Nfc,
    Nfkc,
    None,
}

/// How much of a document's layout `clean` may touch.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CleanMode {
    /// The default: layout is content. Indentation, tabs, alignment and line structure are
    /// kept (code, YAML, tables, poems); only noise goes: ANSI escapes, control characters
    /// other than tab/newline/CR, zero-width and BOM characters, trailing spaces, CRLF line
    /// ends (to LF), blank-line runs beyond `max_blank_lines`. Clean text passes unchanged.
    Preserve,
    /// For web prose only: also turns tabs into spaces, collapses every run of white space
    /// inside a line (indentation included), drops boilerplate lines and keeps at most one
    /// blank line in a row.
    Prose,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanConfig {
    pub mode: CleanMode,
    pub normalization: Normalization,
    pub remove_ansi: bool,
    /// Control characters other than `\t \n \r`, and zero-width/BOM/soft-hyphen characters.
    pub remove_control: bool,
    pub fix_mojibake: bool,
    /// Drop short lines holding a boilerplate phrase; default: on in `prose` mode only.
    pub drop_boilerplate: Option<bool>,
    /// Lines longer than this are never treated as boilerplate.
    pub max_boilerplate_line_chars: usize,
    /// Extra boilerplate phrases besides the bundled list.
    pub boilerplate_phrases: Vec<String>,
    /// Collapse runs of white space inside lines; default: on in `prose` mode only.
    pub collapse_whitespace: Option<bool>,
    /// Longest run of blank lines kept; default: 2 (`preserve`), 1 (`prose`).
    pub max_blank_lines: Option<usize>,
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig {
            mode: CleanMode::Preserve,
            normalization: Normalization::Nfc,
            remove_ansi: true,
            remove_control: true,
            fix_mojibake: true,
            drop_boilerplate: None,
            max_boilerplate_line_chars: 120,
            boilerplate_phrases: vec![],
            collapse_whitespace: None,
            max_blank_lines: None,
        }
    }
}

/// The settings that depend on the mode, resolved once.
#[derive(Debug, Clone, Copy)]
struct Layout {
    drop_boilerplate: bool,
    collapse_whitespace: bool,
    max_blank_lines: usize,
}

impl CleanConfig {
    fn layout(&self) -> Layout {
        let prose = self.mode == CleanMode::Prose;
        Layout {
            drop_boilerplate: self.drop_boilerplate.unwrap_or(prose),
            collapse_whitespace: self.collapse_whitespace.unwrap_or(prose),
            max_blank_lines: self.max_blank_lines.unwrap_or(if prose { 1 } else { 2 }),
        }
    }
}

pub struct Cleaner {
    c: CleanConfig,
    layout: Layout,
    ansi: Regex,
    boilerplate: AhoCorasick,
}

/// What cleaning changed in one document.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CleanCounts {
    pub ansi: u64,
    /// Control, zero-width and BOM characters removed (tabs and line ends not included).
    pub control: u64,
    pub mojibake: u64,
    pub boilerplate_lines: u64,
    /// Lines that lost trailing spaces or tabs.
    pub trailing_space_lines: u64,
    /// Blank lines removed (runs over the limit, at the start and at the end).
    pub blank_lines: u64,
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: CleanConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(Cleaner::new(
        c,
    )?))))
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

/// Characters one of which UTF-8 read as Latin-1 or cp1252 nearly always shows.
const MOJIBAKE_STARTS: [char; 11] = ['Ã', 'Â', 'â', 'Ð', 'Ñ', 'æ', 'å', 'ä', 'ç', 'é', 'è'];

/// Repairs text that is UTF-8 decoded as CP1252/Latin-1 (`cafÃ©` → `café`), segment by
/// segment: only runs of such characters are re-decoded, and only when that gives valid UTF-8.
pub fn fix_mojibake(text: &str) -> Option<String> {
    // Those characters' UTF-8 all starts with 0xC3: text without that byte (ASCII, CJK) is
    // passed by one `memchr` instead of decoding every character.
    if memchr::memchr(0xC3, text.as_bytes()).is_none() || !text.contains(MOJIBAKE_STARTS) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let (mut done, mut i) = (0, 0);
    let mut bytes = Vec::new();
    while i < text.len() {
        // ASCII maps to no high byte: skipped eight bytes at a time.
        i = skip_below_or_high::<0>(text.as_bytes(), i);
        if i == text.len() {
            break;
        }
        // A run of characters that map to high bytes.
        let (start, mut end) = (i, i);
        bytes.clear();
        for c in text[start..].chars() {
            let Some(b) = cp1252_byte(c) else { break };
            bytes.push(b);
            end += c.len_utf8();
        }
        if let Ok(s) = std::str::from_utf8(&bytes) {
            if bytes.len() >= 2 {
                out.push_str(&text[done..start]);
                out.push_str(s);
                done = end;
            }
        }
        // Past the run, or past the one character that maps to none.
        i = match end > start {
            true => end,
            false => start + text[start..].chars().next().map_or(1, char::len_utf8),
        };
    }
    (done > 0).then(|| {
        out.push_str(&text[done..]);
        out
    })
}

/// The byte a character stands for when UTF-8 was read as CP1252 or Latin-1 (none for ASCII).
fn cp1252_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 0x80 {
        None
    } else if u <= 0xFF {
        Some(u as u8)
    } else {
        CP1252.iter().find(|(ch, _)| *ch == c).map(|(_, b)| *b)
    }
}

/// Characters `remove_control` takes out: C0/C1 controls other than tab, LF and CR, and
/// invisible characters that carry nothing (zero-width space, word joiner, BOM, soft hyphen).
/// ZWJ/ZWNJ and direction marks stay: they change how a text renders.
pub fn is_noise_char(ch: char) -> bool {
    match ch {
        '\t' | '\n' | '\r' => false,
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => true,
        ch => ch.is_control(),
    }
}

/// `text.contains(is_noise_char)` on bytes: the ASCII controls, and the UTF-8 of U+0080 to
/// U+009F (C2 80..9F), U+00AD (C2 AD), U+200B (E2 80 8B), U+2060 (E2 81 A0) and U+FEFF
/// (EF BB BF). Lead bytes are never continuation bytes, so no decoding is needed. Eight
/// bytes at a time: only a block holding a byte that may start one is looked at bytewise.
fn has_noise_char(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(block) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(block.try_into().expect("8"));
        if noise_leads(x) != 0 && (i..i + 8).any(|k| noise_at(b, k)) {
            return true;
        }
        i += 8;
    }
    (i..b.len()).any(|k| noise_at(b, k))
}

/// Whether a noise character starts at byte `i`.
fn noise_at(b: &[u8], i: usize) -> bool {
    match b[i] {
        0x00..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F | 0x7F => true,
        0xC2 => matches!(b.get(i + 1), Some(0x80..=0x9F | 0xAD)),
        0xE2 => matches!(b.get(i + 1..i + 3), Some([0x80, 0x8B] | [0x81, 0xA0])),
        0xEF => b.get(i + 1..i + 3) == Some(&[0xBB, 0xBF]),
        _ => false,
    }
}

/// The high bit of each byte of `x` that [`noise_at`] has to look at: ASCII below 0x20 or
/// 0x7F, and C2, E2 and EF, exactly. No sum carries into the next byte.
fn noise_leads(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let ascii = !x & HIGH;
    let control = below_or_high::<0x20>(x) & ascii;
    let delete = ((x & !HIGH) + ONES) & ascii;
    let equal = |c: u64| {
        let y = x ^ (c * ONES);
        !(((y & !HIGH) + !HIGH) | y) & HIGH
    };
    control | delete | equal(0xC2) | equal(0xE2) | equal(0xEF)
}

/// The characters of `text` with each run of ASCII characters and CJK ideographs (U+4E00..
/// U+9FFF) given as one space: Unicode normalization's quick check treats all of them alike
/// (combining class 0, always normalized), so it answers the same, and mostly-ASCII or
/// Chinese text is not decoded character by character.
fn plain_runs_folded(text: &str) -> impl Iterator<Item = char> + '_ {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let first = *b.get(i)?;
        if first >= 0x80 && !cjk_ideograph_at(b, i) {
            let c = text[i..].chars().next().expect("i is a char boundary");
            i += c.len_utf8();
            return Some(c);
        }
        loop {
            i = skip_below_or_high::<0>(b, i);
            match b.get(i) {
                Some(x) if x.is_ascii() => i += 1,
                Some(_) if cjk_ideograph_at(b, i) => i += 3,
                _ => break,
            }
        }
        Some(' ')
    })
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
            layout: c.layout(),
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
        let mut n = CleanCounts::default();
        let t = self.clean_chars(text, &mut n);
        (self.clean_lines(&t, &mut n), n)
    }

    /// Character-level repairs: ANSI escapes, mojibake, normalisation, noise characters.
    fn clean_chars(&self, text: &str, n: &mut CleanCounts) -> String {
        let c = &self.c;
        let mut t = if c.remove_ansi && text.contains('\x1b') {
            n.ansi = self.ansi.find_iter(text).count() as u64;
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
            Normalization::Nfc if !is_nfc_quick(plain_runs_folded(&t)).eq(&IsNormalized::Yes) => {
                t.nfc().collect()
            }
            Normalization::Nfkc => t.nfkc().collect(),
            _ => t,
        };
        if c.remove_control && has_noise_char(&t) {
            let before = t.chars().count();
            t.retain(|ch| !is_noise_char(ch));
            n.control = (before - t.chars().count()) as u64;
        }
        t
    }

    /// Line-level clean-up: CRLF ends, trailing spaces (or, in prose mode, all runs of white
    /// space), boilerplate lines, blank-line runs. Preserve mode keeps a final newline.
    fn clean_lines(&self, t: &str, n: &mut CleanCounts) -> String {
        let l = self.layout;
        let mut out = String::with_capacity(t.len());
        let mut blanks = 0u64;
        let mut joined = String::new();
        for raw in t.split('\n') {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let line: &str = if l.collapse_whitespace {
                joined.clear();
                for (i, w) in raw.split_whitespace().enumerate() {
                    if i > 0 {
                        joined.push(' ');
                    }
                    joined.push_str(w);
                }
                &joined
            } else {
                let trimmed = raw.trim_end_matches([' ', '\t']);
                if trimmed.len() != raw.len() && !trimmed.is_empty() {
                    n.trailing_space_lines += 1;
                }
                trimmed
            };
            if l.drop_boilerplate
                && !line.is_empty()
                && line.chars().count() <= self.c.max_boilerplate_line_chars
                && self.boilerplate.is_match(line)
            {
                n.boilerplate_lines += 1;
                continue;
            }
            if line.is_empty() {
                blanks += 1;
                continue;
            }
            if out.is_empty() {
                n.blank_lines += blanks;
            } else {
                let keep = blanks.min(l.max_blank_lines as u64);
                n.blank_lines += blanks - keep;
                for _ in 0..=keep {
                    out.push('\n');
                }
            }
            blanks = 0;
            out.push_str(line);
        }
        // `blanks` now counts the empty pieces after the last line; a text ending in a
        // newline has one of them, which is its line end, not a blank line.
        let final_newline = self.c.mode == CleanMode::Preserve && t.ends_with('\n');
        if !out.is_empty() && final_newline {
            out.push('\n');
            blanks -= 1;
        }
        n.blank_lines += blanks;
        out
    }
}

/// The counters `clean` reports, in [`CleanCounts::values`] order.
const COUNTERS: [&str; 6] = [
    "ansi_sequences",
    "control_chars",
    "mojibake_docs",
    "boilerplate_lines",
    "trailing_space_lines",
    "blank_lines_removed",
];

impl CleanCounts {
    fn values(&self) -> [u64; 6] {
        [
            self.ansi,
            self.control,
            self.mojibake,
            self.boilerplate_lines,
            self.trailing_space_lines,
            self.blank_lines,
        ]
    }
}

impl RowStage for Cleaner {
    fn name(&self) -> &str {
        "clean"
    }

    fn counters(&self) -> Vec<String> {
        COUNTERS.iter().map(|c| c.to_string()).collect()
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let (t, n) = self.clean(doc.text);
        for (i, v) in n.values().into_iter().enumerate() {
            out.count(i, v);
        }
        match t.is_empty() {
            true => Verdict::drop("clean.empty"),
            false => Verdict::keep_as(doc.text, t),
        }
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The byte scan finds a noise character exactly where `is_noise_char` does.
        #[test]
        fn noise_bytes_as_noise_chars(t in "[a \t\n\r\x00\x07\x0b\x0c\x1f\x7f\u{80}\u{9f}\u{a0}\u{ad}\u{ae}\u{200b}\u{200c}\u{2060}\u{2061}\u{feff}\u{fefe}é’山]{0,12}") {
            proptest::prop_assert_eq!(super::has_noise_char(&t), t.contains(super::is_noise_char));
        }

        /// The same on longer text with at most one noise character, at any offset from the
        /// eight-byte blocks (or split across two), among characters whose bytes are near
        /// the noise ones (C2 A0, E2 80 8C, EF BB BE, ’ = E2 80 99).
        #[test]
        fn one_noise_char_in_longer_text(
            pre in "[a \t\n\r~\u{a0}\u{ae}\u{200c}\u{2061}\u{fefe}é’山]{0,30}",
            noise in "[\x00\x07\x0b\x1f\x7f\u{80}\u{9f}\u{ad}\u{200b}\u{2060}\u{feff}]?",
            post in "[a \t\n\r~\u{a0}\u{ae}\u{200c}\u{2061}\u{fefe}é’山]{0,30}",
        ) {
            let t = format!("{pre}{noise}{post}");
            proptest::prop_assert_eq!(super::has_noise_char(&t), !noise.is_empty());
        }

        /// The eight-byte test flags exactly the bytes a noise character may start with.
        #[test]
        fn noise_leads_as_defined(x in proptest::num::u64::ANY, spots in proptest::collection::vec(proptest::sample::select(vec![0u8, 0x09, 0x1F, 0x20, 0x7E, 0x7F, 0xC1, 0xC2, 0xC3, 0xE2, 0xEF, 0xFF]), 8)) {
            let x = spots.iter().enumerate().fold(x & 0xFF00_FF00_0000_FFFF, |m, (k, &s)| match k % 3 {
                0 => m,
                _ => m & !(0xFF << (8 * k)) | u64::from(s) << (8 * k),
            });
            let want = x.to_le_bytes().iter().enumerate().fold(0u64, |m, (k, &b)| {
                m | u64::from(b < 0x20 || b == 0x7F || [0xC2, 0xE2, 0xEF].contains(&b)) << (8 * k + 7)
            });
            proptest::prop_assert_eq!(super::noise_leads(x), want);
        }

        /// Folding runs of ASCII and CJK ideographs leaves the NFC quick check's answer as it was.
        #[test]
        fn nfc_quick_check_on_folded_runs(t in "[ab. \u{300}\u{301}\u{327}\u{340}\u{344}\u{1100}\u{1161}\u{ac00}e\u{e9}\u{212b}\u{2019}山一鿿\u{4DC0}\u{F900}\u{2F800}]{0,24}") {
            use unicode_normalization::is_nfc_quick;
            proptest::prop_assert_eq!(is_nfc_quick(super::plain_runs_folded(&t)), is_nfc_quick(t.chars()));
        }

        /// The byte-level repair gives what re-decoding runs over a list of characters gives.
        #[test]
        fn mojibake_as_by_characters(t in "[a. \u{80}\u{81}\u{9d}\u{a0}\u{a9}\u{ad}\u{c2}\u{c3}\u{e2}\u{e9}\u{ff}\u{20ac}\u{2019}\u{201c}\u{153}\u{178}山]{0,24}") {
            proptest::prop_assert_eq!(super::fix_mojibake(&t), mojibake_by_characters(&t));
        }
    }

    /// fix_mojibake as it was first written: a list of characters, runs re-decoded.
    fn mojibake_by_characters(text: &str) -> Option<String> {
        if !text.contains(super::MOJIBAKE_STARTS) {
            return None;
        }
        let chars: Vec<char> = text.chars().collect();
        let (mut out, mut changed, mut i) = (String::new(), false, 0);
        while i < chars.len() {
            let mut j = i;
            let mut bytes = Vec::new();
            while let Some(b) = chars.get(j).copied().and_then(super::cp1252_byte) {
                bytes.push(b);
                j += 1;
            }
            if j == i {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            match std::str::from_utf8(&bytes) {
                Ok(s) if bytes.len() >= 2 => {
                    out.push_str(s);
                    changed = true;
                }
                _ => out.extend(&chars[i..j]),
            }
            i = j;
        }
        changed.then_some(out)
    }

    /// fix_mojibake's byte prefilter: every character it looks for starts with 0xC3.
    #[test]
    fn mojibake_starts_begin_with_c3() {
        for c in super::MOJIBAKE_STARTS {
            assert_eq!(c.to_string().as_bytes()[0], 0xC3, "{c}");
        }
    }

    use super::*;

    fn cleaner() -> Cleaner {
        Cleaner::new(CleanConfig::default()).unwrap()
    }

    fn prose() -> Cleaner {
        Cleaner::new(CleanConfig {
            mode: CleanMode::Prose,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn ansi_control_and_whitespace_in_prose_mode() {
        // fortunes-zh style colour codes around a Tang poem line.
        let (t, n) =
            prose().clean("\x1b[1;33m床前明月光\x1b[0m，  疑是\t地上霜。\x07\r\n\n\n\n举头望明月");
        assert_eq!(t, "床前明月光， 疑是 地上霜。\n\n举头望明月");
        assert_eq!(n.ansi, 2);
        assert_eq!(n.control, 1);
    }

    #[test]
    fn preserve_mode_removes_only_noise() {
        let (t, n) = cleaner().clean(
            "\u{feff}\n\x1b[1;33mdef f(x):\x1b[0m  \r\n\tif x:\x07\n\t\treturn  1\u{200b}\n\n\n\n\nz = 2\n\n",
        );
        assert_eq!(t, "def f(x):\n\tif x:\n\t\treturn  1\n\n\nz = 2\n");
        assert_eq!(n.ansi, 2);
        assert_eq!(n.control, 3); // BOM, BEL, zero-width space
        assert_eq!(n.trailing_space_lines, 1);
        assert_eq!(n.blank_lines, 1 + 2 + 1); // leading, over the limit of 2, trailing
    }

    /// Real code and layout-heavy text that is already clean passes byte-identical: this
    /// crate's own sources (rustfmt-clean), the boilerplate list, a poem with indentation.
    #[test]
    fn clean_text_passes_byte_identical() {
        let c = cleaner();
        for text in [
            include_str!("words.rs"),
            include_str!("domain_keywords.rs"),
            include_str!("pii.rs"),
            include_str!("../data/boilerplate.txt"),
            include_str!("../Cargo.toml"),
            "| name | n |\n|------|---|\n| a    | 1 |\n",
            "    Roses are red,\n        violets are blue.\n\n    All rights reserved.\n",
            "x:\n  - a: 1\n    b:\t2\n",
        ] {
            let (t, n) = c.clean(text);
            assert_eq!(t, text);
            assert_eq!(n, CleanCounts::default());
        }
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
    fn boilerplate_lines_are_dropped_in_prose_mode_only() {
        let text = "Skip to content\nThe actual article text is here.\nRead more\n版权所有 © 2024\n正文内容。";
        let (t, n) = prose().clean(text);
        assert_eq!(t, "The actual article text is here.\n正文内容。");
        assert_eq!(n.boilerplate_lines, 3);
        assert_eq!(cleaner().clean(text).0, text);
        // A long paragraph that mentions a phrase is content, not boilerplate.
        let long = format!(
            "{}read more about it in the report.",
            "The council discussed the budget at length ".repeat(4)
        );
        assert_eq!(prose().clean(&long).0, long);
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

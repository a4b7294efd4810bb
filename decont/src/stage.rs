//! `decontaminate`: a training document that shares an n-gram (normalised as the index's
//! evaluation items were) with an evaluation item is dropped (`mode = "drop"`, reason
//! `decontaminate.overlap`, detail `BENCHMARK ITEM: n-gram`), or has each matching window
//! cut out with `margin_chars` on each side (`mode = "remove_spans"`, GPT-3 / Dolma style;
//! dropped as `decontaminate.too_little_left` when less than `min_keep_fraction` of its
//! characters would remain).

use pipeline::stage::parse_stage_table;
use pipeline::{Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use serde::Deserialize;

use crate::index::{Index, ItemRef};
use crate::normalize::Tokens;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Drop,
    RemoveSpans,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecontConfig {
    /// The index file from `sluice decont index` (relative to the config).
    pub index: String,
    /// The n-gram length; the index's when absent, refused when it differs.
    pub ngram: Option<usize>,
    pub mode: Mode,
    /// Distinct matching n-grams needed before a document is touched.
    pub min_matches: usize,
    /// `remove_spans`: characters cut on each side of a matching window.
    pub margin_chars: usize,
    /// `remove_spans`: a document keeping less than this share of its characters is dropped.
    pub min_keep_fraction: f64,
}

impl Default for DecontConfig {
    fn default() -> Self {
        DecontConfig {
            index: String::new(),
            ngram: None,
            mode: Mode::Drop,
            min_matches: 1,
            margin_chars: 200,
            min_keep_fraction: 0.5,
        }
    }
}

pub struct Decontaminate {
    c: DecontConfig,
    index: Index,
}

/// A document's matches: the first (window start, item, n-gram) and every window start.
struct Matches<'a> {
    first: Option<(ItemRef<'a>, String)>,
    windows: Vec<usize>,
}

impl Decontaminate {
    pub fn new(c: DecontConfig, env: &StageEnv) -> Result<Self, String> {
        if c.index.is_empty() {
            return Err("missing field `index` (a file from `sluice decont index`)".into());
        }
        let index = Index::open(&env.resolve(&c.index)).map_err(|e| format!("index: {e}"))?;
        if let Some(n) = c.ngram.filter(|&n| n != index.ngram()) {
            return Err(format!(
                "ngram = {n}, but {} holds {}-grams: rebuild it with --ngram {n} or drop the key",
                index.path().display(),
                index.ngram()
            ));
        }
        if c.min_matches == 0 || !(0.0..=1.0).contains(&c.min_keep_fraction) {
            return Err("min_matches must be at least 1 and min_keep_fraction in 0..=1".into());
        }
        Ok(Decontaminate { c, index })
    }

    fn matches<'a>(&'a self, t: &Tokens) -> Matches<'a> {
        let mut m = Matches {
            first: None,
            windows: Vec::new(),
        };
        for (i, h, w) in t.windows(self.index.ngram()) {
            if let Some(item) = self.index.lookup(h, w) {
                if m.first.is_none() {
                    m.first = Some((item, w.to_string()));
                }
                m.windows.push(i);
                if self.c.mode == Mode::Drop && m.windows.len() >= self.c.min_matches {
                    break;
                }
            }
        }
        m
    }

    /// `text` without the matching windows and their margins; (text, spans, chars cut).
    fn cut(&self, text: &str, t: &Tokens, windows: &[usize]) -> (String, u64, u64) {
        let n = self.index.ngram();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for &i in windows {
            let a = back_chars(text, t.tokens[i].orig.0 as usize, self.c.margin_chars);
            let b = forward_chars(
                text,
                t.tokens[i + n - 1].orig.1 as usize,
                self.c.margin_chars,
            );
            match spans.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => spans.push((a, b)),
            }
        }
        let (mut out, mut at, mut cut) = (String::with_capacity(text.len()), 0, 0u64);
        for &(a, b) in &spans {
            push_piece(&mut out, text[at..a].trim_end());
            cut += text[a..b].chars().count() as u64;
            at = b;
        }
        push_piece(
            &mut out,
            text[at..].trim_start_matches(['\n', '\r', ' ', '\t']),
        );
        (out, spans.len() as u64, cut)
    }
}

fn push_piece(out: &mut String, piece: &str) {
    if piece.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(piece);
}

/// The byte offset `k` characters before `at` (or 0).
fn back_chars(text: &str, at: usize, k: usize) -> usize {
    match k {
        0 => at,
        _ => text[..at]
            .char_indices()
            .rev()
            .nth(k - 1)
            .map_or(0, |(i, _)| i),
    }
}

/// The byte offset `k` characters after `at` (or the end).
fn forward_chars(text: &str, at: usize, k: usize) -> usize {
    text[at..]
        .char_indices()
        .nth(k)
        .map_or(text.len(), |(i, _)| at + i)
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: DecontConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(
        Decontaminate::new(c, env)?,
    ))))
}

impl RowStage for Decontaminate {
    fn name(&self) -> &str {
        "decontaminate"
    }

    fn counters(&self) -> Vec<String> {
        vec!["spans_removed".into(), "chars_removed".into()]
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let t = Tokens::of(doc.text);
        let m = self.matches(&t);
        let Some((item, gram)) = m.first.filter(|_| m.windows.len() >= self.c.min_matches) else {
            return Verdict::Keep;
        };
        let detail = format!("{} {}: {gram}", item.benchmark, item.id);
        if self.c.mode == Mode::Drop {
            return Verdict::drop_with("decontaminate.overlap", detail);
        }
        let (kept, spans, cut) = self.cut(doc.text, &t, &m.windows);
        let before = doc.text.chars().count() as f64;
        if (kept.chars().count() as f64) < self.c.min_keep_fraction * before || kept.is_empty() {
            return Verdict::drop_with("decontaminate.too_little_left", detail);
        }
        out.count(0, spans);
        out.count(1, cut);
        Verdict::Rewrite(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexBuilder;

    const ITEM: &str = "def has_close_elements(numbers, threshold):\n    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than given threshold. \"\"\"";

    fn config(dir: &std::path::Path, toml: &str) -> Decontaminate {
        let c: DecontConfig = parse_stage_table(toml::from_str(toml).unwrap()).unwrap();
        Decontaminate::new(c, &StageEnv::new(dir)).unwrap()
    }

    fn stage(dir: &std::path::Path) {
        let mut b = IndexBuilder::new(8);
        b.add("HumanEval", "HumanEval/0", ITEM).unwrap();
        b.write(&dir.join("d.idx")).unwrap();
    }

    fn judge(dir: &std::path::Path, toml: &str, text: &str) -> Result<String, (String, String)> {
        pipeline::testing::judge_one(config(dir, toml), text)
    }

    #[test]
    fn a_leaked_item_is_dropped_whatever_its_case_spacing_and_quotes() {
        let dir = tempfile::tempdir().unwrap();
        stage(dir.path());
        let leaked = "Some blog post.\n\nCHECK IF in given list of  numbers,\nare ANY two “numbers” closer to each other — see below.";
        let (reason, detail) = judge(dir.path(), "index = \"d.idx\"", leaked).unwrap_err();
        assert_eq!(reason, "decontaminate.overlap");
        assert_eq!(
            detail,
            "HumanEval HumanEval/0: check if in given list of numbers are"
        );
        let clean = "Check if in given list of numbers, something else entirely happens.";
        assert_eq!(
            judge(dir.path(), "index = \"d.idx\"", clean).unwrap(),
            clean
        );
    }

    #[test]
    fn remove_spans_cuts_the_window_and_its_margin() {
        let dir = tempfile::tempdir().unwrap();
        stage(dir.path());
        let cfg =
            "index = \"d.idx\"\nmode = \"remove_spans\"\nmargin_chars = 4\nmin_keep_fraction = 0.3";
        let head = "A long introduction that has nothing to do with the benchmark at all, it talks about rivers.";
        let tail = "And a long ending, also unrelated, about mountains and the weather in spring.";
        let text = format!("{head}\nXX check if in given list of numbers are any YY\n{tail}");
        assert_eq!(
            judge(dir.path(), cfg, &text).unwrap(),
            format!("{head}\n\n{tail}")
        );
        let (reason, _) = judge(dir.path(), cfg, ITEM).unwrap_err();
        assert_eq!(reason, "decontaminate.too_little_left");
    }

    #[test]
    fn a_config_asking_for_another_n_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        stage(dir.path());
        let c: DecontConfig =
            parse_stage_table(toml::from_str("index = \"d.idx\"\nngram = 13").unwrap()).unwrap();
        let e = Decontaminate::new(c, &StageEnv::new(dir.path()))
            .err()
            .unwrap();
        assert!(e.contains("8-grams") && e.contains("--ngram 13"), "{e}");
    }
}

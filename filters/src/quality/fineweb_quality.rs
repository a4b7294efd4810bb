//! FineWeb's additional rules (Penedo et al. 2024) as in datatrove: at least 12% of lines end
//! in terminal punctuation, at most 67% of lines are short, at most 1% of characters sit in
//! duplicated lines, at most 0.3 newlines per word.

use pipeline::{Doc, RowOut, RowStage, Verdict};
use serde::Deserialize;

use super::{check_ratio, find_duplicates};
use crate::analysis::Analyser;
use crate::text::{char_len, is_terminal_punct};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FineWebConfig {
    pub line_punct_thr: f64,
    pub line_punct_exclude_zero: bool,
    pub short_line_thr: f64,
    pub short_line_length: usize,
    /// Short-line length for CJK text, where a character carries about a word.
    pub cjk_short_line_length: usize,
    pub char_duplicates_ratio: f64,
    pub new_line_ratio: f64,
}

impl Default for FineWebConfig {
    fn default() -> Self {
        FineWebConfig {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            short_line_thr: 0.67,
            short_line_length: 30,
            cjk_short_line_length: 10,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
        }
    }
}

pub struct FineWebQuality {
    c: FineWebConfig,
    analyser: Analyser,
}

impl FineWebQuality {
    pub fn new(c: FineWebConfig) -> Result<Self, String> {
        check_ratio("line_punct_thr", c.line_punct_thr)?;
        check_ratio("short_line_thr", c.short_line_thr)?;
        check_ratio("char_duplicates_ratio", c.char_duplicates_ratio)?;
        Ok(FineWebQuality {
            c,
            analyser: Analyser::standalone(),
        })
    }
}

impl RowStage for FineWebQuality {
    fn name(&self) -> &str {
        "fineweb_quality"
    }

    fn judge(&self, doc: Doc<'_>, _: &mut RowOut) -> Verdict {
        self.check(doc.text)
    }
}

impl super::Analysing for FineWebQuality {
    fn analyser(&mut self) -> &mut Analyser {
        &mut self.analyser
    }
}

impl FineWebQuality {
    /// This rule set's verdict on one text.
    pub fn check(&self, text: &str) -> Verdict {
        let c = &self.c;
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return Verdict::drop("fineweb_quality.empty");
        }
        let n = lines.len() as f64;
        let punct = lines
            .iter()
            .filter(|l| l.chars().next_back().is_some_and(is_terminal_punct))
            .count() as f64
            / n;
        if punct < c.line_punct_thr && !(punct == 0.0 && c.line_punct_exclude_zero) {
            return Verdict::drop("fineweb_quality.line_punct_ratio");
        }
        let short_len = if self.analyser.is_cjk(text) {
            c.cjk_short_line_length
        } else {
            c.short_line_length
        };
        let short = lines.iter().filter(|l| char_len(l) <= short_len).count() as f64 / n;
        if short > c.short_line_thr {
            return Verdict::drop("fineweb_quality.short_line_ratio");
        }
        let (_, dup_chars) = find_duplicates(lines.iter().copied());
        let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count();
        let non_newline = (char_len(text) - newlines).max(1);
        if dup_chars as f64 / non_newline as f64 > c.char_duplicates_ratio {
            return Verdict::drop("fineweb_quality.char_dup_ratio");
        }
        let n_words = self.analyser.words(text).len().max(1);
        if newlines as f64 / n_words as f64 > c.new_line_ratio {
            return Verdict::drop("fineweb_quality.list_ratio");
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> FineWebQuality {
        FineWebQuality::new(FineWebConfig::default()).unwrap()
    }

    #[test]
    fn prose_passes_lists_and_menus_fail() {
        let prose = "The council approved the new budget on Thursday after a long debate.\n\
            Spending on schools will rise by four percent, while road repairs get a smaller share.";
        assert_eq!(f().check(prose), Verdict::Keep);
        let menu = "Home\nNews\nSport\nWeather\nContact us\nAbout";
        assert_eq!(
            f().check(menu),
            Verdict::drop("fineweb_quality.line_punct_ratio")
        );
        let short =
            "Yes.\nNo.\nMaybe.\nThe committee will decide on the matter next week, officials said.";
        assert_eq!(
            f().check(short),
            Verdict::drop("fineweb_quality.short_line_ratio")
        );
        let dup = format!(
            "{prose}\nShare this article on social media.\nShare this article on social media."
        );
        assert_eq!(
            f().check(&dup),
            Verdict::drop("fineweb_quality.char_dup_ratio")
        );
    }

    #[test]
    fn chinese_prose_passes() {
        let zh = "国家统计局今天发布数据，前三季度国内生产总值同比增长百分之五点二。\n\
            其中，第三产业增加值增长较快，对经济增长的贡献率超过六成，消费继续发挥主要拉动作用。";
        assert_eq!(f().check(zh), Verdict::Keep);
    }
}

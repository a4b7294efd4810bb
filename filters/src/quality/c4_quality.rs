//! C4 rules (Raffel et al. 2020) as datatrove applies them: keep lines that end in terminal
//! punctuation and have at least 3 words, drop lines with a word over 1000 characters, with
//! "javascript" or cookie/terms phrases; drop documents with "lorem ipsum", a curly bracket or
//! fewer than 5 sentences. Kept documents get the filtered text.

use pipeline::{Doc, RowOut, RowStage, Verdict};
use regex::Regex;
use serde::Deserialize;

use crate::text::{is_terminal_punct, py_splitlines};
use crate::words::{for_each_chunk, words};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C4Config {
    pub remove_citations: bool,
    pub filter_no_terminal_punct: bool,
    pub min_num_sentences: usize,
    pub min_words_per_line: usize,
    pub max_word_length: usize,
    pub filter_lorem_ipsum: bool,
    pub filter_javascript: bool,
    pub filter_curly_bracket: bool,
    pub filter_policy: bool,
    /// Lines of CJK text may also end in `。！？` (C4's list is English-only).
    pub cjk_aware: bool,
}

impl Default for C4Config {
    fn default() -> Self {
        C4Config {
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 5,
            min_words_per_line: 3,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
            cjk_aware: true,
        }
    }
}

const POLICY: &[&str] = &[
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];
const END_PUNCT: &[char] = &['.', '?', '!', '"', '\''];
const CJK_END_PUNCT: &[char] = &['。', '！', '？', '”', '」'];

pub struct C4Quality {
    c: C4Config,
    citation: Regex,
}

impl C4Quality {
    pub fn new(c: C4Config) -> Result<Self, String> {
        Ok(C4Quality {
            c,
            citation: Regex::new(r"\[\d*\]|\[edit\]|\[citation needed\]").expect("valid regex"),
        })
    }
}

/// Sentences in a line: runs of tokens closed by terminal punctuation.
fn count_sentences(line: &str) -> usize {
    let toks = words(line);
    let mut n = 0;
    let mut open = false;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if !t.is_empty() && t.chars().all(is_terminal_punct) {
            if open {
                n += 1;
                open = false;
            }
        } else if !t
            .chars()
            .all(|c| matches!(c, '"' | '\'' | ')' | ']' | '”' | '’' | '」'))
        {
            open = true;
        }
        i += 1;
    }
    n + usize::from(open)
}

impl RowStage for C4Quality {
    fn name(&self) -> &str {
        "c4_quality"
    }

    fn judge(&self, doc: Doc<'_>, _: &mut RowOut) -> Verdict {
        self.check(doc.text)
    }
}

impl C4Quality {
    /// This rule set's verdict on one text.
    pub fn check(&self, text: &str) -> Verdict {
        let c = &self.c;
        let mut kept: Vec<std::borrow::Cow<str>> = Vec::new();
        let mut sentences = 0;
        for raw in py_splitlines(text) {
            let mut line = std::borrow::Cow::Borrowed(raw.trim());
            let (mut n_words, mut too_long) = (0, false);
            for_each_chunk(&line, |w, ascii| {
                n_words += 1;
                // A word's characters: its bytes when it is ASCII.
                let chars = match ascii {
                    true => w.len(),
                    false => w.chars().count(),
                };
                too_long |= chars > c.max_word_length;
            });
            if too_long {
                continue;
            }
            if c.remove_citations && line.contains('[') {
                line = std::borrow::Cow::Owned(self.citation.replace_all(&line, "").into_owned());
            }
            let cjk_line = c.cjk_aware && crate::text::is_cjk_text(&line);
            if c.filter_no_terminal_punct {
                let ends = line.ends_with(END_PUNCT) || (cjk_line && line.ends_with(CJK_END_PUNCT));
                if !ends || line.ends_with("...") {
                    continue;
                }
            }
            let enough_words = if cjk_line {
                // No spaces between Chinese words: count characters as words.
                line.chars().filter(|ch| !ch.is_whitespace()).count() >= c.min_words_per_line
            } else {
                n_words >= c.min_words_per_line
            };
            if !enough_words {
                continue;
            }
            let lower = match line.is_ascii() {
                true => line.to_ascii_lowercase(),
                false => line.to_lowercase(),
            };
            if c.filter_lorem_ipsum && lower.contains("lorem ipsum") {
                return Verdict::drop("c4_quality.lorem_ipsum");
            }
            if c.filter_javascript && lower.contains("javascript") {
                continue;
            }
            if c.filter_curly_bracket && line.contains('{') {
                return Verdict::drop("c4_quality.curly_bracket");
            }
            if c.filter_policy && POLICY.iter().any(|p| lower.contains(p)) {
                continue;
            }
            // Only `sentences < min_num_sentences` is asked: lines past that need no count.
            if sentences < c.min_num_sentences {
                sentences += count_sentences(&line);
            }
            kept.push(line);
        }
        if sentences < c.min_num_sentences {
            return Verdict::drop("c4_quality.too_few_sentences");
        }
        let new_text = kept.join("\n");
        let new_text = new_text.trim();
        if new_text == text {
            Verdict::Keep
        } else {
            Verdict::Rewrite(new_text.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c4() -> C4Quality {
        C4Quality::new(C4Config::default()).unwrap()
    }

    #[test]
    fn lines_are_filtered_and_docs_judged() {
        let doc = "Home | About | Contact\n\
            The museum opened a new wing on Monday. It holds paintings from the last century.\n\
            Visitors can buy tickets online. Entry is free for children.\n\
            This site uses cookies to improve your experience.\n\
            Please enable JavaScript to view the map.\n\
            The wing was designed by a local architect [1]. Work took three years.";
        let Verdict::Rewrite(t) = c4().check(doc) else {
            panic!("expected a rewrite")
        };
        assert!(!t.contains("Home |") && !t.contains("cookies") && !t.contains("JavaScript"));
        // The citation goes, the space before it stays (as in the reference).
        assert!(t.contains("local architect . Work"), "{t}");
        assert_eq!(t.lines().count(), 3);
        assert_eq!(
            c4().check("One sentence only. And another one here."),
            Verdict::drop("c4_quality.too_few_sentences")
        );
        let lorem = format!("{doc}\nLorem ipsum dolor sit amet, consectetur.");
        assert_eq!(c4().check(&lorem), Verdict::drop("c4_quality.lorem_ipsum"));
        let code = format!("{doc}\nThe function is defined as {{ return x; }} here.");
        assert_eq!(c4().check(&code), Verdict::drop("c4_quality.curly_bracket"));
    }

    #[test]
    fn chinese_lines_ending_in_full_stop_are_kept() {
        let zh = "今天上午，市政府召开新闻发布会。会议介绍了今年的经济发展情况。\n\
            专家表示，消费市场正在稳步恢复。预计全年增长将超过预期。\n\
            多家企业宣布将扩大投资规模。";
        assert_eq!(c4().check(zh), Verdict::Keep);
    }

    #[test]
    fn sentence_counting() {
        assert_eq!(count_sentences("One. Two! Three?"), 3);
        assert_eq!(count_sentences("He said \"stop.\" Then left."), 2);
        assert_eq!(count_sentences("你好。世界！"), 2);
    }
}

//! `sensitive_words`: drops or masks documents containing phrases from sensitive-word lists
//! (bundled starter lists in `data/sensitive/{en,zh}.txt`, plus files and words of your own).

use pipeline::stage::parse_stage_table;
use pipeline::{Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use serde::Deserialize;

use crate::phrases::{parse_list, PhraseMatcher};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensitivePolicy {
    Drop,
    Mask,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensitiveConfig {
    /// Use the bundled en + zh starter lists.
    pub builtin_lists: bool,
    /// More list files (relative to the config file).
    pub files: Vec<String>,
    pub words: Vec<String>,
    pub policy: SensitivePolicy,
    /// With `drop`: documents with more matches than this are dropped (0: any match).
    pub max_matches: usize,
    pub mask_token: String,
}

impl Default for SensitiveConfig {
    fn default() -> Self {
        SensitiveConfig {
            builtin_lists: true,
            files: vec![],
            words: vec![],
            policy: SensitivePolicy::Drop,
            max_matches: 0,
            mask_token: "<SENSITIVE>".into(),
        }
    }
}

pub struct SensitiveWords {
    c: SensitiveConfig,
    matcher: PhraseMatcher,
}

impl SensitiveWords {
    pub fn new(c: SensitiveConfig, env: &StageEnv) -> Result<Self, String> {
        let mut entries = Vec::new();
        if c.builtin_lists {
            entries.extend(parse_list(include_str!("../data/sensitive/en.txt")));
            entries.extend(parse_list(include_str!("../data/sensitive/zh.txt")));
        }
        for f in &c.files {
            let p = env.resolve(f);
            let text =
                std::fs::read_to_string(&p).map_err(|e| format!("files: {}: {e}", p.display()))?;
            entries.extend(parse_list(&text));
        }
        entries.extend(c.words.iter().cloned());
        if entries.is_empty() {
            return Err("no phrases: set builtin_lists = true, or give files or words".into());
        }
        Ok(SensitiveWords {
            matcher: PhraseMatcher::new(&entries)?,
            c,
        })
    }
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: SensitiveConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(
        SensitiveWords::new(c, env)?,
    ))))
}

impl SensitiveWords {
    /// `text` with every match replaced by the mask token.
    fn mask(&self, text: &str, found: &[crate::phrases::PhraseMatch]) -> String {
        let mut s = String::with_capacity(text.len());
        let mut at = 0;
        for m in found {
            if m.start < at {
                continue; // overlaps a regex match already masked
            }
            s.push_str(&text[at..m.start]);
            s.push_str(&self.c.mask_token);
            at = m.end;
        }
        s.push_str(&text[at..]);
        s
    }
}

impl RowStage for SensitiveWords {
    fn name(&self) -> &str {
        "sensitive_words"
    }

    fn counters(&self) -> Vec<String> {
        vec!["matches".into()]
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let found = self.matcher.find(doc.text);
        out.count(0, found.len() as u64);
        match self.c.policy {
            SensitivePolicy::Drop if found.len() > self.c.max_matches => Verdict::drop_with(
                "sensitive_words.found",
                self.matcher.phrases[found[0].phrase].as_str(),
            ),
            SensitivePolicy::Mask if !found.is_empty() => {
                Verdict::Rewrite(self.mask(doc.text, &found))
            }
            _ => Verdict::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::document::{str_column, TEXT};
    use pipeline::testing::batch_of;
    use pipeline::{Stage, StageContext, StageOutput};

    fn run(c: SensitiveConfig, texts: &[&str]) -> StageOutput {
        let s = RowAdapter::new(SensitiveWords::new(c, &StageEnv::new(".")).unwrap());
        s.process(batch_of(texts), &mut StageContext::new(0))
            .unwrap()
    }

    #[test]
    fn drop_and_mask() {
        let texts = [
            "网络暴力和种族歧视必须被制止。",
            "A calm article about gardening.",
            "They planned a terrorist attack.",
        ];
        let out = run(SensitiveConfig::default(), &texts);
        assert_eq!(
            (0..3).map(|i| out.keep.value(i)).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        assert_eq!(out.detail.value(0), "暴力");
        let out = run(
            SensitiveConfig {
                policy: SensitivePolicy::Mask,
                ..Default::default()
            },
            &texts,
        );
        let t = str_column(&out.batch, TEXT).unwrap();
        assert_eq!(t.value(0), "网络<SENSITIVE>和<SENSITIVE>必须被制止。");
        assert_eq!(t.value(2), "They planned a <SENSITIVE>.");
    }
}

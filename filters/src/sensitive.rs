//! `sensitive_words`: drops or masks documents containing phrases from sensitive-word lists
//! (bundled starter lists in `data/sensitive/{en,zh}.txt`, plus files and words of your own).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use pipeline::document::{str_column, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{Decisions, Stage, StageContext, StageEnv, StageError, StageKind, StageOutput};
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
    Ok(StageKind::Stream(Box::new(SensitiveWords::new(c, env)?)))
}

impl Stage for SensitiveWords {
    fn name(&self) -> &str {
        "sensitive_words"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let mut d = Decisions::with_capacity(text.len());
        let mut out = StringBuilder::with_capacity(text.len(), text.value_data().len());
        let mut total = 0;
        for i in 0..text.len() {
            let t = text.value(i);
            let found = self.matcher.find(t);
            total += found.len() as u64;
            match self.c.policy {
                SensitivePolicy::Drop if found.len() > self.c.max_matches => {
                    let first = &self.matcher.phrases[found[0].phrase];
                    d.reject("sensitive_words.found", Some(first));
                    out.append_value(t);
                }
                SensitivePolicy::Mask if !found.is_empty() => {
                    let mut s = String::with_capacity(t.len());
                    let mut at = 0;
                    for m in &found {
                        if m.start < at {
                            continue; // overlaps a regex match already masked
                        }
                        s.push_str(&t[at..m.start]);
                        s.push_str(&self.c.mask_token);
                        at = m.end;
                    }
                    s.push_str(&t[at..]);
                    d.keep();
                    out.append_value(s);
                }
                _ => {
                    d.keep();
                    out.append_value(t);
                }
            }
        }
        ctx.count("matches", total);
        let idx = batch.schema().index_of(TEXT)?;
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        cols[idx] = Arc::new(out.finish());
        Ok(d.finish(RecordBatch::try_new(batch.schema(), cols)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::document::{DocBatchBuilder, Document};

    fn run(c: SensitiveConfig, texts: &[&str]) -> StageOutput {
        let s = SensitiveWords::new(c, &StageEnv::new(".")).unwrap();
        let mut b = DocBatchBuilder::new();
        for t in texts {
            b.push(&Document {
                id: "i".into(),
                text: t.to_string(),
                source: "s".into(),
                domain: "d".into(),
                meta: None,
            });
        }
        s.process(b.finish(), &mut StageContext::new(0)).unwrap()
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

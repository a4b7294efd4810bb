//! `domain_keywords`: scores each document against per-domain keyword/regex lists (Aho-Corasick,
//! zh + en; bundled starter lists for finance, medical and legal in `data/domains/`), writes a
//! `domain_score_<name>` column per domain (matches per 1,000 characters) and labels the
//! document with the best-scoring domain above `min_score`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Float32Builder, RecordBatch, StringBuilder};
use pipeline::document::{str_column, with_column, DOMAIN, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{Decisions, Stage, StageContext, StageEnv, StageError, StageKind, StageOutput};
use serde::Deserialize;

use crate::phrases::{parse_list, PhraseMatcher};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelMode {
    /// Overwrite `domain` with the best domain when it scores at least `min_score`.
    Always,
    /// Only label documents whose `domain` is one of `default_domains`.
    IfDefault,
    /// Scores only.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainConfig {
    /// Use the bundled finance, medical and legal lists.
    pub builtin_lists: bool,
    /// Domain name → list file (relative to the config file).
    pub lists: BTreeMap<String, String>,
    /// Domain name → inline keywords (`re:` for regexes).
    pub keywords: BTreeMap<String, Vec<String>>,
    pub min_score: f32,
    pub label: LabelMode,
    pub default_domains: Vec<String>,
    /// Keep only documents labelled with one of these domains (empty: keep all).
    pub keep: Vec<String>,
}

impl Default for DomainConfig {
    fn default() -> Self {
        DomainConfig {
            builtin_lists: true,
            lists: BTreeMap::new(),
            keywords: BTreeMap::new(),
            min_score: 2.0,
            label: LabelMode::IfDefault,
            default_domains: vec!["default".into(), "web".into()],
            keep: vec![],
        }
    }
}

pub struct DomainKeywords {
    c: DomainConfig,
    names: Vec<String>,
    matchers: Vec<PhraseMatcher>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("finance", include_str!("../data/domains/finance.txt")),
    ("legal", include_str!("../data/domains/legal.txt")),
    ("medical", include_str!("../data/domains/medical.txt")),
];

impl DomainKeywords {
    pub fn new(c: DomainConfig, env: &StageEnv) -> Result<Self, String> {
        let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if c.builtin_lists {
            for (name, text) in BUILTIN {
                lists
                    .entry(name.to_string())
                    .or_default()
                    .extend(parse_list(text));
            }
        }
        for (name, file) in &c.lists {
            let p = env.resolve(file);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("lists.{name}: {}: {e}", p.display()))?;
            lists
                .entry(name.clone())
                .or_default()
                .extend(parse_list(&text));
        }
        for (name, words) in &c.keywords {
            lists
                .entry(name.clone())
                .or_default()
                .extend(words.iter().cloned());
        }
        if lists.is_empty() {
            return Err("no domains: set builtin_lists = true, or give lists or keywords".into());
        }
        let mut names = Vec::new();
        let mut matchers = Vec::new();
        for (name, entries) in lists {
            matchers.push(PhraseMatcher::new(&entries).map_err(|e| format!("domain {name}: {e}"))?);
            names.push(name);
        }
        Ok(DomainKeywords { c, names, matchers })
    }

    /// Matches per 1,000 characters (texts shorter than 200 characters count as 200).
    pub fn scores(&self, text: &str) -> Vec<f32> {
        let chars = text.chars().count().max(200) as f32;
        self.matchers
            .iter()
            .map(|m| m.find(text).len() as f32 * 1000.0 / chars)
            .collect()
    }
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: DomainConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(DomainKeywords::new(c, env)?)))
}

impl Stage for DomainKeywords {
    fn name(&self) -> &str {
        "domain_keywords"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let domain = str_column(&batch, DOMAIN)?;
        let n = text.len();
        let mut cols: Vec<Float32Builder> = self
            .names
            .iter()
            .map(|_| Float32Builder::with_capacity(n))
            .collect();
        let mut labels = StringBuilder::with_capacity(n, domain.value_data().len());
        let mut d = Decisions::with_capacity(n);
        for i in 0..n {
            let s = self.scores(text.value(i));
            for (b, v) in cols.iter_mut().zip(&s) {
                b.append_value(*v);
            }
            let best = s
                .iter()
                .enumerate()
                .filter(|(_, v)| **v >= self.c.min_score)
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map(|(k, _)| self.names[k].as_str());
            let current = domain.value(i);
            let label = match (self.c.label, best) {
                (LabelMode::Always, Some(b)) => b,
                (LabelMode::IfDefault, Some(b))
                    if self.c.default_domains.iter().any(|x| x == current) =>
                {
                    b
                }
                _ => current,
            };
            if label != current {
                ctx.count(&format!("labelled.{label}"), 1);
            }
            labels.append_value(label);
            if !self.c.keep.is_empty() && !self.c.keep.iter().any(|k| k == label) {
                d.reject("domain_keywords.not_kept", Some(label));
            } else {
                d.keep();
            }
        }
        let mut batch = with_column(&batch, DOMAIN, Arc::new(labels.finish()))?;
        for (name, mut b) in self.names.iter().zip(cols) {
            batch = with_column(
                &batch,
                &format!("domain_score_{name}"),
                Arc::new(b.finish()),
            )?;
        }
        Ok(d.finish(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::document::{DocBatchBuilder, Document};

    #[test]
    fn labels_finance_in_both_languages() {
        let s = DomainKeywords::new(DomainConfig::default(), &StageEnv::new(".")).unwrap();
        let mut b = DocBatchBuilder::new();
        for (t, dom) in [
            ("贵州茅台（股票代码600519.SH）今日K线图显示股价涨停，市盈率升至三十倍。", "web"),
            ("Shares rose after quarterly results beat forecasts and the central bank held the interest rate.", "web"),
            ("The patient was given a new medication after the diagnosis at the hospital.", "web"),
            ("A quiet walk along the river at dawn.", "web"),
            ("Shares of the company rose sharply on the stock exchange today.", "news"),
        ] {
            b.push(&Document { id: "i".into(), text: t.into(), source: "s".into(), domain: dom.into(), meta: None });
        }
        let out = s.process(b.finish(), &mut StageContext::new(0)).unwrap();
        let dom = str_column(&out.batch, DOMAIN).unwrap();
        let got: Vec<&str> = (0..5).map(|i| dom.value(i)).collect();
        assert_eq!(got, vec!["finance", "finance", "medical", "web", "news"]);
        assert!(out.batch.column_by_name("domain_score_legal").is_some());
    }
}

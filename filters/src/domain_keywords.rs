//! `domain_keywords`: scores each document against per-domain keyword/regex lists (Aho-Corasick,
//! zh + en; bundled starter lists for finance, medical and legal in `data/domains/`), writes a
//! `domain_score_<name>` column per domain (matches per 1,000 characters) and labels the
//! document with the best-scoring domain above `min_score`.

use pipeline::document::DOMAIN;
use pipeline::stage::parse_stage_table;
use pipeline::{ColumnType, Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use serde::Deserialize;
use std::collections::BTreeMap;

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
    Ok(StageKind::Stream(Box::new(RowAdapter::new(
        DomainKeywords::new(c, env)?,
    ))))
}

impl RowStage for DomainKeywords {
    fn name(&self) -> &str {
        "domain_keywords"
    }

    /// `domain`, then one score column per domain list.
    fn columns(&self) -> Vec<(String, ColumnType)> {
        let scores = self
            .names
            .iter()
            .map(|n| (format!("domain_score_{n}"), ColumnType::Float32));
        std::iter::once((DOMAIN.to_string(), ColumnType::Utf8))
            .chain(scores)
            .collect()
    }

    /// `labelled.<name>` per domain list: documents given that label.
    fn counters(&self) -> Vec<String> {
        self.names.iter().map(|n| format!("labelled.{n}")).collect()
    }

    fn reads_domain(&self) -> bool {
        true
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let s = self.scores(doc.text);
        for (k, v) in s.iter().enumerate() {
            out.f32(k + 1, Some(*v));
        }
        let best = s
            .iter()
            .enumerate()
            .filter(|(_, v)| **v >= self.c.min_score)
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(k, _)| k);
        let relabel = match self.c.label {
            LabelMode::Always => best,
            LabelMode::IfDefault if self.c.default_domains.iter().any(|x| x == doc.domain) => best,
            _ => None,
        };
        let label = relabel.map_or(doc.domain, |k| self.names[k].as_str());
        if let Some(k) = relabel.filter(|_| label != doc.domain) {
            out.count(k, 1);
        }
        out.str(0, label);
        if !self.c.keep.is_empty() && !self.c.keep.iter().any(|k| k == label) {
            Verdict::drop_with("domain_keywords.not_kept", label)
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::document::str_column;
    use pipeline::testing::batch_of_docs;
    use pipeline::{Stage, StageContext};

    #[test]
    fn labels_finance_in_both_languages() {
        let s = DomainKeywords::new(DomainConfig::default(), &StageEnv::new(".")).unwrap();
        let docs = [
            ("贵州茅台（股票代码600519.SH）今日K线图显示股价涨停，市盈率升至三十倍。", "web"),
            ("Shares rose after quarterly results beat forecasts and the central bank held the interest rate.", "web"),
            ("The patient was given a new medication after the diagnosis at the hospital.", "web"),
            ("A quiet walk along the river at dawn.", "web"),
            ("Shares of the company rose sharply on the stock exchange today.", "news"),
        ];
        let batch = batch_of_docs(docs.iter().map(|(t, d)| ("i", *t, *d)));
        let mut ctx = StageContext::new(0);
        let out = RowAdapter::new(s).process(batch, &mut ctx).unwrap();
        let dom = str_column(&out.batch, DOMAIN).unwrap();
        let got: Vec<&str> = (0..5).map(|i| dom.value(i)).collect();
        assert_eq!(got, vec!["finance", "finance", "medical", "web", "news"]);
        assert!(out.batch.column_by_name("domain_score_legal").is_some());
        let counters = ctx.take_counters();
        assert_eq!(counters["labelled.finance"], 2);
        assert_eq!(counters["labelled.medical"], 1);
    }
}

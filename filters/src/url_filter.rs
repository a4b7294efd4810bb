//! `url_filter`: drops documents by their URL (`meta.url`, as the WARC reader and most
//! crawled JSONL carry it): domain and URL blocklists from files in the UT1 blacklist
//! layout (one domain or URL per line, `#` comments, `.gz` allowed), where a listed domain
//! blocks its subdomains too; banned words (a whole token of the URL), banned sub-words (a
//! substring anywhere, Aho-Corasick) and soft-banned words (dropped once `soft_threshold`
//! of them appear); an allow list (domains) wins over everything. No list is built in: a
//! list of adult or spam domains is the user's file.

use std::collections::HashSet;
use std::io::Read;

use aho_corasick::AhoCorasick;
use pipeline::stage::parse_stage_table;
use pipeline::{meta_field, Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingUrl {
    Keep,
    Drop,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UrlFilterConfig {
    /// The `meta` field holding the URL.
    pub field: String,
    /// Blocklist files (relative to the config): a line is a domain (`example.com`) or a URL
    /// (`example.com/path`, with or without a scheme).
    pub blocklist_files: Vec<String>,
    pub domains: Vec<String>,
    pub urls: Vec<String>,
    /// Domains (files and entries) never dropped by this stage, with their subdomains.
    pub allow_files: Vec<String>,
    pub allow_domains: Vec<String>,
    /// A URL token (split at anything but letters and digits) equal to one of these drops it.
    pub banned_words: Vec<String>,
    /// A URL containing one of these anywhere is dropped.
    pub banned_subwords: Vec<String>,
    /// A URL with `soft_threshold` or more of these tokens is dropped.
    pub soft_banned_words: Vec<String>,
    pub soft_threshold: usize,
    /// Documents without a URL: kept (default) or dropped (`url_filter.no_url`).
    pub missing_url: MissingUrl,
}

impl Default for UrlFilterConfig {
    fn default() -> Self {
        UrlFilterConfig {
            field: "url".into(),
            blocklist_files: vec![],
            domains: vec![],
            urls: vec![],
            allow_files: vec![],
            allow_domains: vec![],
            banned_words: vec![],
            banned_subwords: vec![],
            soft_banned_words: vec![],
            soft_threshold: 2,
            missing_url: MissingUrl::Keep,
        }
    }
}

#[derive(Clone)]
pub struct UrlFilter {
    c: UrlFilterConfig,
    domains: HashSet<String>,
    urls: HashSet<String>,
    allow: HashSet<String>,
    banned: HashSet<String>,
    soft: HashSet<String>,
    subwords: Option<(AhoCorasick, Vec<String>)>,
}

/// The lines of a list file (`.gz` decompressed), without blanks and `#` comments.
fn read_list(path: &std::path::Path) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        s
    } else {
        String::from_utf8(bytes).map_err(|e| format!("{}: {e}", path.display()))?
    };
    Ok(crate::phrases::parse_list(&text))
}

/// (host, rest) of a URL or list entry: the scheme, user info, port and a `www.` stay out;
/// the host is lower-cased; `rest` is the path and query without a trailing `/`.
fn split_url(url: &str) -> (String, String) {
    let s = url.trim();
    let s = s.split_once("://").map_or(s, |(_, r)| r);
    let s = s.split('#').next().unwrap_or("");
    let end = s.find(['/', '?']).unwrap_or(s.len());
    let (authority, rest) = s.split_at(end);
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    (host, rest.trim_end_matches('/').to_string())
}

/// The normalised form of a URL for the URL list: host and path.
fn url_key(url: &str) -> String {
    let (host, rest) = split_url(url);
    format!("{host}{rest}")
}

/// `host` and each parent domain of it with at least two labels.
fn domain_and_parents(host: &str) -> impl Iterator<Item = &str> {
    let dots = host.matches('.').count();
    host.match_indices('.')
        .map(|(i, _)| &host[i + 1..])
        .take(dots.saturating_sub(1))
        .chain(std::iter::once(host))
}

fn lower_set(v: &[String]) -> HashSet<String> {
    v.iter()
        .map(|w| w.trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

impl UrlFilter {
    pub fn new(c: UrlFilterConfig, env: &StageEnv) -> Result<Self, String> {
        let mut blocked = Vec::new();
        for f in &c.blocklist_files {
            blocked
                .extend(read_list(&env.resolve(f)).map_err(|e| format!("blocklist_files: {e}"))?);
        }
        let (mut domains, mut urls) = (HashSet::new(), HashSet::new());
        for e in blocked.iter().chain(&c.domains).chain(&c.urls) {
            let (host, rest) = split_url(e);
            if host.is_empty() {
                continue;
            }
            match rest.is_empty() {
                true => domains.insert(host),
                false => urls.insert(format!("{host}{rest}")),
            };
        }
        let mut allow = c.allow_domains.clone();
        for f in &c.allow_files {
            allow.extend(read_list(&env.resolve(f)).map_err(|e| format!("allow_files: {e}"))?);
        }
        let allow = allow
            .iter()
            .map(|d| split_url(d).0)
            .filter(|d| !d.is_empty())
            .collect();
        let subs: Vec<String> = lower_set(&c.banned_subwords).into_iter().collect();
        let subwords = match subs.is_empty() {
            true => None,
            false => {
                let mut subs = subs;
                subs.sort();
                let ac = AhoCorasick::new(&subs).map_err(|e| format!("banned_subwords: {e}"))?;
                Some((ac, subs))
            }
        };
        let f = UrlFilter {
            domains,
            urls,
            allow,
            banned: lower_set(&c.banned_words),
            soft: lower_set(&c.soft_banned_words),
            subwords,
            c,
        };
        if f.domains.is_empty()
            && f.urls.is_empty()
            && f.banned.is_empty()
            && f.soft.is_empty()
            && f.subwords.is_none()
            && f.c.missing_url == MissingUrl::Keep
        {
            return Err("missing field: nothing to filter by; give blocklist_files, domains, urls, banned_words, banned_subwords or soft_banned_words".into());
        }
        Ok(f)
    }

    /// The URL in a document's `meta`.
    fn url_of(&self, meta: Option<&str>) -> Option<String> {
        meta_field(meta, &self.c.field)
    }

    fn judge_url(&self, url: &str) -> Verdict {
        let (host, _) = split_url(url);
        if domain_and_parents(&host).any(|d| self.allow.contains(d)) {
            return Verdict::Keep;
        }
        if let Some(d) = domain_and_parents(&host).find(|d| self.domains.contains(*d)) {
            return Verdict::drop_with("url_filter.domain", d);
        }
        let key = url_key(url);
        if self.urls.contains(&key) {
            return Verdict::drop_with("url_filter.url", key);
        }
        let lower = url.to_lowercase();
        let tokens: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(w) = tokens.iter().find(|t| self.banned.contains(**t)) {
            return Verdict::drop_with("url_filter.banned_word", *w);
        }
        if let Some((ac, subs)) = &self.subwords {
            if let Some(m) = ac.find(&lower) {
                return Verdict::drop_with(
                    "url_filter.banned_subword",
                    subs[m.pattern().as_usize()].as_str(),
                );
            }
        }
        let soft: HashSet<&&str> = tokens.iter().filter(|t| self.soft.contains(**t)).collect();
        if !self.soft.is_empty() && soft.len() >= self.c.soft_threshold.max(1) {
            let mut words: Vec<&str> = soft.into_iter().copied().collect();
            words.sort();
            return Verdict::drop_with("url_filter.soft_banned_words", words.join(","));
        }
        Verdict::Keep
    }
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: UrlFilterConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(
        UrlFilter::new(c, env)?,
    ))))
}

impl RowStage for UrlFilter {
    fn name(&self) -> &str {
        "url_filter"
    }

    fn reads_meta(&self) -> bool {
        true
    }

    fn counters(&self) -> Vec<String> {
        vec!["no_url".into()]
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        match self.url_of(doc.meta) {
            Some(url) => self.judge_url(&url),
            None => {
                out.count(0, 1);
                match self.c.missing_url {
                    MissingUrl::Keep => Verdict::Keep,
                    MissingUrl::Drop => Verdict::drop("url_filter.no_url"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn filter(c: UrlFilterConfig, dir: &std::path::Path) -> UrlFilter {
        UrlFilter::new(c, &StageEnv::new(dir)).unwrap()
    }

    fn reason(f: &UrlFilter, url: &str) -> Option<(String, String)> {
        match f.judge_url(url) {
            Verdict::Drop { reason, detail } => {
                Some((reason.into_owned(), detail.unwrap_or_default()))
            }
            _ => None,
        }
    }

    #[test]
    fn lists_words_and_the_allow_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("domains"),
            "# UT1 layout\nbad.example\n\nwww.spam.test\nexample.org/private/page\n",
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"casino.test\n").unwrap();
        std::fs::write(dir.path().join("more.gz"), gz.finish().unwrap()).unwrap();
        let f = filter(
            UrlFilterConfig {
                blocklist_files: vec!["domains".into(), "more.gz".into()],
                allow_domains: vec!["good.bad.example".into()],
                banned_words: vec!["porn".into()],
                banned_subwords: vec!["xxx".into()],
                soft_banned_words: vec!["hot".into(), "live".into(), "cam".into()],
                ..Default::default()
            },
            dir.path(),
        );
        let d = |r: &str, x: &str| Some((r.to_string(), x.to_string()));
        assert_eq!(
            reason(&f, "https://bad.example/a"),
            d("url_filter.domain", "bad.example")
        );
        assert_eq!(
            reason(&f, "http://user@Deep.Sub.BAD.example:8080/x"),
            d("url_filter.domain", "bad.example")
        );
        assert_eq!(
            reason(&f, "https://good.bad.example/x"),
            None,
            "the allow list wins"
        );
        assert_eq!(
            reason(&f, "https://spam.test/"),
            d("url_filter.domain", "spam.test")
        );
        assert_eq!(
            reason(&f, "https://casino.test/"),
            d("url_filter.domain", "casino.test")
        );
        assert_eq!(
            reason(&f, "https://notbad.example/"),
            None,
            "a suffix is not a parent domain"
        );
        assert_eq!(
            reason(&f, "https://www.example.org/private/page/"),
            d("url_filter.url", "example.org/private/page")
        );
        assert_eq!(reason(&f, "https://example.org/private/other"), None);
        assert_eq!(
            reason(&f, "https://a.test/free-porn-videos"),
            d("url_filter.banned_word", "porn")
        );
        assert_eq!(
            reason(&f, "https://a.test/pornography-history"),
            None,
            "a word, not a sub-word"
        );
        assert_eq!(
            reason(&f, "https://a.test/bestxxxdeals"),
            d("url_filter.banned_subword", "xxx")
        );
        assert_eq!(reason(&f, "https://a.test/hot-weather"), None);
        assert_eq!(
            reason(&f, "https://a.test/live/hot/cam"),
            d("url_filter.soft_banned_words", "cam,hot,live")
        );
    }

    #[test]
    fn documents_without_a_url_are_counted_and_kept_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let c = UrlFilterConfig {
            domains: vec!["bad.example".into()],
            ..Default::default()
        };
        let f = filter(c.clone(), dir.path());
        let meta = r#"{"url":"https://bad.example/x","lang":"en"}"#;
        assert_eq!(
            f.url_of(Some(meta)).as_deref(),
            Some("https://bad.example/x")
        );
        assert_eq!(f.url_of(Some(r#"{"link":"x"}"#)), None);
        assert_eq!(f.url_of(None), None);
        let strict = filter(
            UrlFilterConfig {
                missing_url: MissingUrl::Drop,
                ..c
            },
            dir.path(),
        );
        let run = |f: &UrlFilter, metas: Vec<Option<&str>>| {
            let s = RowAdapter::new(f.clone());
            let batch = pipeline::testing::batch_with_meta(&metas);
            pipeline::Stage::process(&s, batch, &mut pipeline::StageContext::new(0)).unwrap()
        };
        let metas = vec![Some(meta), None, Some(r#"{"url":"https://ok.test/"}"#)];
        let out = run(&f, metas.clone());
        assert_eq!(
            (0..3).map(|i| out.keep.value(i)).collect::<Vec<_>>(),
            [false, true, true]
        );
        let out = run(&strict, metas);
        assert_eq!(
            (0..3).map(|i| out.keep.value(i)).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert!(UrlFilter::new(UrlFilterConfig::default(), &StageEnv::new(".")).is_err());
    }
}

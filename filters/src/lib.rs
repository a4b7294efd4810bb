//! Document filters as pipeline stages: cleaning that keeps layout (`clean`), language ID
//! (`language`), quality rules (Gopher quality, Gopher repetition, C4, FineWeb) with the
//! peers' published thresholds as defaults, domain labels by keywords and by a trainable
//! classifier, sensitive words, PII and URL blocklists. CJK-aware throughout, so Chinese text is judged by
//! rules that fit it.

pub mod analysis;
pub mod classifier;
pub mod clean;
pub mod digit_runs;
pub mod domain_keywords;
pub mod fasttext;
pub mod html;
pub mod html_extract;
pub mod language;
pub mod phrases;
pub mod pii;
pub mod quality;
pub mod sensitive_words;
pub mod text;
pub mod url_filter;
pub mod words;

use pipeline::{StageInfo, StageRegistry};

/// Adds this crate's stages to `registry`.
pub fn register(registry: &mut StageRegistry) {
    let stages = [
        StageInfo {
            type_name: "clean",
            summary: "removes noise (ANSI escapes, control and zero-width chars, trailing \
                      spaces, CRLF, long blank-line runs), repairs mojibake, keeps layout; \
                      mode = \"prose\" also collapses white space and drops boilerplate",
            outputs: "clean.empty; counters per kind of change",
            factory: clean::build,
        },
        StageInfo {
            type_name: "language",
            summary: "script, then whichlang, with lingua's second opinion before a drop; \
                      or model = \"fasttext\" with a lid.176-style model; keep = [...], min_score",
            outputs: "language.not_kept, language.low_score; columns lang, lang_score",
            factory: language::build,
        },
        StageInfo {
            type_name: "pii",
            summary: "e-mail, phones, public IPs, China resident IDs, cards (checksums and \
                      context guards); policy = mask / drop / count",
            outputs: "pii.found, pii.too_many; <EMAIL> <PHONE> <IP> <ID_CN> <CREDIT_CARD>; \
                      counters per kind",
            factory: pii::build,
        },
        StageInfo {
            type_name: "sensitive_words",
            summary: "zh + en phrase lists (plus files / words), drop or mask",
            outputs: "sensitive_words.found",
            factory: sensitive_words::build,
        },
        StageInfo {
            type_name: "domain_keywords",
            summary: "keyword / regex lists per domain (finance, medical, legal), labels domain",
            outputs: "domain_keywords.not_kept; columns domain_score_<name>",
            factory: domain_keywords::build,
        },
        StageInfo {
            type_name: "html_extract",
            summary: "a page's main text: boilerplate out; code indentation, tables, MathML/TeX, \
                      <br> lines and CJK spacing kept; favour = precision / balanced / recall",
            outputs: "html_extract.empty; columns html_title, html_lang, html_kept; counter \
                      not_html",
            factory: html_extract::build,
        },
        StageInfo {
            type_name: "url_filter",
            summary: "meta.url against domain / URL blocklist files (UT1 layout, .gz), banned \
                      words and sub-words, soft-banned words; an allow list wins",
            outputs: "url_filter.domain, .url, .banned_word, .banned_subword, \
                      .soft_banned_words, .no_url; counter no_url",
            factory: url_filter::build,
        },
        StageInfo {
            type_name: "classifier",
            summary: "a model from `sluice classifier train` or a fastText .bin/.ftz (DCLM's \
                      quality model); score_label + min_score filter on one label's probability",
            outputs: "classifier.not_kept, classifier.low_score; columns classifier_label, \
                      classifier_prob, score_column",
            factory: classifier::build,
        },
    ];
    for s in stages {
        registry.register(s);
    }
    quality::register(registry);
}

#[cfg(test)]
mod tests {
    /// Every stage type of this crate describes itself and builds from its defaults (the
    /// classifier needs a model) under its own name.
    #[test]
    fn every_stage_type_builds_from_defaults_and_has_its_name() {
        let mut r = pipeline::StageRegistry::default();
        super::register(&mut r);
        assert_eq!(
            pipeline::testing::check_stage_types(&r, &["classifier", "url_filter"]),
            12
        );
    }
}

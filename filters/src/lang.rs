//! `language`: language identification with whatlang (pure Rust, 69 languages). Adds `lang`
//! (ISO 639-1 where one exists, else 639-3) and `lang_score` (0..1) columns; keeps the
//! languages listed in `keep` (all when empty) at or above `min_score`.

use std::sync::Arc;

use arrow::array::{Array, Float32Builder, RecordBatch, StringBuilder};
use pipeline::document::{str_column, with_column, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{Decisions, Stage, StageContext, StageEnv, StageError, StageKind, StageOutput};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    /// Language codes to keep (`en`, `zh`, ...); empty keeps every language.
    pub keep: Vec<String>,
    pub min_score: f32,
    /// Characters looked at per document (detection cost grows with it).
    pub max_chars: usize,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            keep: vec![],
            min_score: 0.0,
            max_chars: 4000,
        }
    }
}

pub struct LanguageId {
    c: LanguageConfig,
}

/// ISO 639-1 codes of the languages most corpora care about; others stay ISO 639-3.
fn short_code(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Eng => "en",
        Cmn => "zh",
        Spa => "es",
        Fra => "fr",
        Deu => "de",
        Rus => "ru",
        Jpn => "ja",
        Kor => "ko",
        Por => "pt",
        Ita => "it",
        Nld => "nl",
        Ara => "ar",
        Hin => "hi",
        Tur => "tr",
        Pol => "pl",
        Ukr => "uk",
        Vie => "vi",
        Ind => "id",
        Swe => "sv",
        Dan => "da",
        Fin => "fi",
        Ell => "el",
        Heb => "he",
        Tha => "th",
        Ces => "cs",
        other => other.code(),
    }
}

impl LanguageId {
    pub fn new(c: LanguageConfig) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&c.min_score) {
            return Err(format!(
                "min_score = {} must be between 0 and 1",
                c.min_score
            ));
        }
        if c.max_chars == 0 {
            return Err("max_chars must be at least 1".into());
        }
        Ok(LanguageId { c })
    }

    /// (code, score) of `text`; `("und", 0.0)` when nothing can be said.
    pub fn detect(&self, text: &str) -> (&'static str, f32) {
        let end = text
            .char_indices()
            .nth(self.c.max_chars)
            .map_or(text.len(), |(i, _)| i);
        match whatlang::detect(&text[..end]) {
            Some(info) => (short_code(info.lang()), info.confidence() as f32),
            None => ("und", 0.0),
        }
    }
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: LanguageConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(LanguageId::new(c)?)))
}

impl Stage for LanguageId {
    fn name(&self) -> &str {
        "language"
    }

    fn process(&self, batch: RecordBatch, _: &mut StageContext) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let mut langs = StringBuilder::with_capacity(text.len(), text.len() * 2);
        let mut scores = Float32Builder::with_capacity(text.len());
        let mut d = Decisions::with_capacity(text.len());
        for i in 0..text.len() {
            let (lang, score) = self.detect(text.value(i));
            langs.append_value(lang);
            scores.append_value(score);
            if !self.c.keep.is_empty() && !self.c.keep.iter().any(|k| k == lang) {
                d.reject("language.not_kept", Some(lang));
            } else if score < self.c.min_score {
                d.reject("language.low_score", Some(&format!("{lang} {score:.2}")));
            } else {
                d.keep();
            }
        }
        let batch = with_column(&batch, "lang", Arc::new(langs.finish()))?;
        let batch = with_column(&batch, "lang_score", Arc::new(scores.finish()))?;
        Ok(d.finish(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_chinese_are_told_apart() {
        let l = LanguageId::new(LanguageConfig::default()).unwrap();
        let (en, s) = l.detect("The committee met on Tuesday to review the proposal for a new public library in the city centre.");
        assert_eq!(en, "en");
        assert!(s > 0.5);
        assert_eq!(
            l.detect("中国人民银行今天宣布下调金融机构存款准备金率，以保持流动性合理充裕。")
                .0,
            "zh"
        );
        assert_eq!(l.detect("").0, "und");
    }
}

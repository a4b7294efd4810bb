//! `language`: language identification that holds up on short and mixed text. Adds `lang`
//! (ISO 639-1 where one exists, else 639-3) and `lang_score` (0..1) columns; keeps the
//! languages listed in `keep` (all when empty) at or above `min_score`.
//!
//! The script decides first: a text whose words are mostly CJK characters (each Han, kana or
//! Hangul character counts as a word, each natural-language word of other letters as one) is
//! Chinese, Japanese (kana present) or Korean, whatever ASCII command names it carries
//! (`SET CONSTRAINTS 设置当前事务的约束模式`). Other text goes to a model. The default, `auto`,
//! asks whichlang (16 major languages, about a million short documents a second) and, before
//! a document is dropped for a language not in `keep`, asks lingua (n-gram models of 75
//! languages, accurate on a few words, about two thousand short documents a second with its
//! lookups memoized: vendor/lingua/SLUICE.md) for a second opinion, which is final. `lingua`
//! and `whatlang` use one model throughout. `filters/examples/langid_bench.rs` measures them
//! on labelled real text.
//!
//! Memory: lingua's models are stored compressed in the binary and decompressed, once per
//! process and shared by every worker, when lingua first weighs a language: up to 288 MB
//! for all 75 (Latin-script text brings in most of them; ~0.3-0.45 s once), plus the memo's
//! ~17 MB per worker thread. The stage holds no per-document state beyond the document.

use std::collections::HashMap;
use std::sync::OnceLock;

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use pipeline::chars::{is_alphabetic, is_alphanumeric};
use pipeline::stage::parse_stage_table;
use pipeline::{ColumnType, Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use serde::Deserialize;

/// The model behind the non-CJK step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// whichlang, with lingua's second opinion before a document is dropped (and for every
    /// document when `min_score` > 0, since whichlang gives no score).
    Auto,
    /// whichlang alone: 16 languages, no score; other languages get the nearest of them.
    Whichlang,
    /// lingua alone: 75 languages, accurate on short text, about 2,000 short docs/s.
    Lingua,
    /// whatlang (the stage's model before): fast, unreliable below a few sentences.
    Whatlang,
    /// A fastText language-ID model (`fasttext_model`, e.g. lid.176.ftz), deciding every
    /// document alone (no CJK script step): its labels are the codes.
    Fasttext,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    /// Language codes to keep (`en`, `zh`, ...); empty keeps every language.
    pub keep: Vec<String>,
    pub min_score: f32,
    /// Characters looked at per document (detection cost grows with it).
    pub max_chars: usize,
    pub model: Model,
    /// Share of a text's words in CJK script from which the script alone decides.
    pub cjk_share: f32,
    /// The fastText model file for `model = "fasttext"` (relative to the config).
    pub fasttext_model: Option<String>,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            keep: vec![],
            min_score: 0.0,
            max_chars: 1000,
            model: Model::Auto,
            cjk_share: 0.5,
            fasttext_model: None,
        }
    }
}

pub struct LanguageId {
    c: LanguageConfig,
    /// Built for `auto` and `lingua` only (its models are mapped lazily, per language).
    lingua: Option<LanguageDetector>,
    fasttext: Option<crate::fasttext::FastText>,
}

/// ISO 639-1 codes of the languages most corpora care about; others stay ISO 639-3.
fn whatlang_code(lang: whatlang::Lang) -> &'static str {
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

fn whichlang_code(lang: whichlang::Lang) -> &'static str {
    use whichlang::Lang::*;
    match lang {
        Ara => "ar",
        Cmn => "zh",
        Deu => "de",
        Eng => "en",
        Fra => "fr",
        Hin => "hi",
        Ita => "it",
        Jpn => "ja",
        Kor => "ko",
        Nld => "nl",
        Por => "pt",
        Rus => "ru",
        Spa => "es",
        Swe => "sv",
        Tur => "tr",
        Vie => "vi",
    }
}

/// lingua's languages by their ISO 639-1 code (every one of them has one).
fn lingua_code(lang: Language) -> &'static str {
    static CODES: OnceLock<HashMap<Language, &'static str>> = OnceLock::new();
    CODES.get_or_init(|| {
        Language::all()
            .into_iter()
            .map(|l| {
                let code: &'static str = Box::leak(l.iso_code_639_1().to_string().into_boxed_str());
                (l, code)
            })
            .collect()
    })[&lang]
}

/// Word units of a text by script: CJK characters one each, words of other letters one
/// each. Tokens that look like code (paths, identifiers, `ALL_CAPS` names, anything with
/// digits or `/ _ . = ( )` inside) are not words: they are what technical Chinese carries.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ScriptCounts {
    pub han: u32,
    pub kana: u32,
    pub hangul: u32,
    pub other_words: u32,
}

impl ScriptCounts {
    pub fn of(text: &str) -> Self {
        let mut n = ScriptCounts::default();
        let mut token_start: Option<usize> = None;
        for (i, ch) in text.char_indices() {
            let u = ch as u32;
            let cjk = if is_han(u) {
                n.han += 1;
                true
            } else if (0x3040..=0x30FF).contains(&u) || (0x31F0..=0x31FF).contains(&u) {
                n.kana += 1;
                true
            } else if (0xAC00..=0xD7AF).contains(&u) || (0x1100..=0x11FF).contains(&u) {
                n.hangul += 1;
                true
            } else {
                false
            };
            let breaks = cjk || ch.is_whitespace() || (u >= 0x3000 && !is_alphanumeric(ch));
            match (breaks, token_start) {
                (true, Some(s)) => {
                    n.other_words += is_word(&text[s..i]) as u32;
                    token_start = None;
                }
                (false, None) => token_start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = token_start {
            n.other_words += is_word(&text[s..]) as u32;
        }
        n
    }

    fn total(&self) -> u32 {
        self.han + self.kana + self.hangul + self.other_words
    }
}

/// A natural-language word (possibly with a hyphen, apostrophe or surrounding punctuation),
/// not a piece of code, a path, a number or an acronym.
fn is_word(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !is_alphanumeric(c));
    if !t.chars().any(is_alphabetic) {
        return false;
    }
    let codeish = t
        .chars()
        .any(|c| c.is_ascii_digit() || !(is_alphabetic(c) || matches!(c, '-' | '\'' | '’')));
    let acronym = t.chars().count() >= 2 && t.chars().all(|c| !c.is_lowercase());
    !codeish && !acronym
}

fn is_han(u: u32) -> bool {
    (0x4E00..=0x9FFF).contains(&u)
        || (0x3400..=0x4DBF).contains(&u)
        || (0x20000..=0x2FA1F).contains(&u)
        || (0xF900..=0xFAFF).contains(&u)
}

impl LanguageId {
    pub fn new(c: LanguageConfig) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&c.min_score) {
            return Err(format!(
                "min_score = {} must be between 0 and 1",
                c.min_score
            ));
        }
        if !(0.0..=1.0).contains(&c.cjk_share) || c.cjk_share == 0.0 {
            return Err(format!(
                "cjk_share = {} must be above 0 and at most 1",
                c.cjk_share
            ));
        }
        if c.max_chars == 0 {
            return Err("max_chars must be at least 1".into());
        }
        if c.model == Model::Whichlang && c.min_score > 0.0 {
            return Err(
                "model = \"whichlang\" gives no score, so min_score cannot apply; \
                        use model = \"auto\" or \"lingua\""
                    .into(),
            );
        }
        let lingua = matches!(c.model, Model::Auto | Model::Lingua)
            .then(|| LanguageDetectorBuilder::from_all_languages().build());
        Ok(LanguageId {
            c,
            lingua,
            fasttext: None,
        })
    }

    /// With `model = "fasttext"`: loads `fasttext_model` (resolved by `resolve`).
    fn with_fasttext(
        mut self,
        resolve: impl Fn(&str) -> std::path::PathBuf,
    ) -> Result<Self, String> {
        match (self.c.model, self.c.fasttext_model.as_deref()) {
            (Model::Fasttext, Some(p)) => {
                let m = crate::fasttext::FastText::load(&resolve(p))
                    .map_err(|e| format!("fasttext_model: {e}"))?;
                self.fasttext = Some(m);
                Ok(self)
            }
            (Model::Fasttext, None) => {
                Err("model = \"fasttext\" needs fasttext_model (a lid.176-style .bin/.ftz)".into())
            }
            (_, Some(_)) => Err("fasttext_model needs model = \"fasttext\"".into()),
            _ => Ok(self),
        }
    }

    /// (code, score) of `text`; `("und", 0.0)` when nothing can be said. The score is NaN
    /// where the model gives none (whichlang).
    pub fn detect(&self, text: &str) -> (&str, f32) {
        let end = text
            .char_indices()
            .nth(self.c.max_chars)
            .map_or(text.len(), |(i, _)| i);
        let text = &text[..end];
        if let Some(ft) = &self.fasttext {
            return match ft.predict_ids(text, 1, 0.0).first() {
                Some(&(i, p)) => (ft.label_at(i), p.min(1.0)),
                None => ("und", 0.0),
            };
        }
        match self.script(text) {
            Some(found) => found,
            None => self.model(text),
        }
    }

    /// The CJK step: `Some` when the script alone decides.
    fn script(&self, text: &str) -> Option<(&'static str, f32)> {
        let n = ScriptCounts::of(text);
        if n.han + n.kana + n.hangul == 0 {
            return None;
        }
        let total = n.total() as f32;
        let cjk = (n.han + n.kana) as f32 / total;
        let hangul = n.hangul as f32 / total;
        if cjk >= self.c.cjk_share {
            // Japanese writes kana in nearly every sentence; Chinese never does.
            let lang = if n.kana * 10 >= n.han + n.kana {
                "ja"
            } else {
                "zh"
            };
            Some((lang, cjk))
        } else if hangul >= self.c.cjk_share {
            Some(("ko", hangul))
        } else {
            None
        }
    }

    fn model(&self, text: &str) -> (&'static str, f32) {
        match self.c.model {
            Model::Whatlang => match whatlang::detect(text) {
                Some(info) => (whatlang_code(info.lang()), info.confidence() as f32),
                None => ("und", 0.0),
            },
            Model::Lingua => self.lingua(text),
            Model::Fasttext => ("und", 0.0), // detect asks the model first
            Model::Whichlang => self.whichlang(text),
            Model::Auto => {
                let first = self.whichlang(text);
                if first.0 == "und" || (self.kept(first.0) && self.c.min_score == 0.0) {
                    first
                } else {
                    self.lingua(text)
                }
            }
        }
    }

    fn whichlang(&self, text: &str) -> (&'static str, f32) {
        if !text.chars().any(is_alphabetic) {
            return ("und", 0.0);
        }
        (whichlang_code(whichlang::detect_language(text)), f32::NAN)
    }

    fn lingua(&self, text: &str) -> (&'static str, f32) {
        let d = self.lingua.as_ref().expect("built for auto and lingua");
        match d.compute_language_confidence_values(text).first() {
            Some(&(lang, score)) if score > 0.0 => (lingua_code(lang), score as f32),
            _ => ("und", 0.0),
        }
    }

    fn kept(&self, lang: &str) -> bool {
        self.c.keep.is_empty() || self.c.keep.iter().any(|k| k == lang)
    }
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let c: LanguageConfig = parse_stage_table(table)?;
    let l = LanguageId::new(c)?.with_fasttext(|p| env.resolve(p))?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(l))))
}

impl RowStage for LanguageId {
    fn name(&self) -> &str {
        "language"
    }

    fn columns(&self) -> Vec<(String, ColumnType)> {
        vec![
            ("lang".into(), ColumnType::Utf8),
            ("lang_score".into(), ColumnType::Float32),
        ]
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let (lang, score) = self.detect(doc.text);
        out.str(0, lang);
        // NaN (no score from whichlang) is written as null.
        out.f32(1, (!score.is_nan()).then_some(score));
        if !self.kept(lang) {
            Verdict::drop_with("language.not_kept", lang)
        } else if score < self.c.min_score {
            Verdict::drop_with("language.low_score", format!("{lang} {score:.2}"))
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lingua() -> LanguageId {
        LanguageId::new(LanguageConfig {
            keep: vec!["en".into(), "zh".into()],
            ..Default::default()
        })
        .unwrap()
    }

    /// lingua's confidence values are the same bits on every call: it added up a text's
    /// n-gram probabilities in a hash set's order and normalised in a hash map's, both
    /// random per call, which moved the last bits (vendor/lingua/SLUICE.md). Long texts take
    /// the trigram path, short ones the 1..5-gram path with the unigram counts.
    #[test]
    fn lingua_values_are_the_same_bits_every_call() {
        let d = LanguageDetectorBuilder::from_all_languages().build();
        let long = "The parser reads each line of the configuration file, strips comments and \
                    blank lines, and hands the remaining key and value pairs to the loader, \
                    which checks them against the schema before the service starts.";
        for text in [long, "une petite maison", "Kleine Häuser am See"] {
            let first = d.compute_language_confidence_values(text);
            for _ in 0..20 {
                assert_eq!(d.compute_language_confidence_values(text), first, "{text}");
            }
        }
        // The values published lingua 1.8.0 gives (to its last bits' jitter), so the memo
        // answers each language from its own model.
        for (text, lang, value) in [
            ("une petite maison", Language::French, 0.367_259_882_687_738),
            (
                "Kleine Häuser am See",
                Language::German,
                0.301_938_585_294_989,
            ),
        ] {
            assert_leading_values(&d, text, &[(lang, value)]);
        }
    }

    /// Asserts that lingua's leading (language, value) pairs for `text` are `want`: the same
    /// languages, and values within 1e-12 (the jitter of published lingua's last bits).
    fn assert_leading_values(d: &LanguageDetector, text: &str, want: &[(Language, f64)]) {
        let got = d.compute_language_confidence_values(text);
        assert!(got.len() >= want.len(), "{text}: {got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.0, w.0, "{text}: {got:?}");
            assert!((g.1 - w.1).abs() < 1e-12, "{text}: {got:?}");
        }
    }

    /// lingua's character rules (vendor/lingua/SLUICE.md: a word's characters counted once
    /// per word, ASCII skipped where it counts for no language) decide as the published
    /// loops did: the top two languages and values published lingua 1.8.0 gives for short
    /// texts whose accented letters pick languages out (mapped characters such as `ą`, `ã`,
    /// `ő`, `ș`, and letters unique to one language such as `ß`, `ñ`, `ř`); any other result
    /// fails.
    #[test]
    fn lingua_character_rules_decide_as_published() {
        use Language::*;
        let d = LanguageDetectorBuilder::from_all_languages().build();
        for (text, want) in [
            ("Zażółć gęślą jaźń", [(Polish, 1.0), (Afrikaans, 0.0)]),
            (
                "Ele não está em São Paulo hoje",
                [
                    (Portuguese, 0.5646166161791073),
                    (Yoruba, 0.08685830211153225),
                ],
            ),
            (
                "Der Fußball ist rund",
                [(German, 0.44208525269180377), (Ganda, 0.05423734022675447)],
            ),
            (
                "Mañana será otro día",
                [(Spanish, 0.8207661677966255), (Yoruba, 0.08638356999709036)],
            ),
            (
                "Đây là một câu tiếng Việt",
                [
                    (Vietnamese, 0.972509046512344),
                    (French, 0.01655156444892318),
                ],
            ),
            (
                "Şi această ţară e frumoasă",
                [
                    (Romanian, 0.9999670951721813),
                    (Vietnamese, 3.290482781862828e-5),
                ],
            ),
            (
                "Příliš žluťoučký kůň úpěl ďábelské ódy",
                [(Czech, 0.9763110988775834), (Slovak, 0.02313795081177489)],
            ),
            (
                "Árvíztűrő tükörfúrógép",
                [
                    (Hungarian, 0.9991799102632122),
                    (Yoruba, 0.0006659258300537861),
                ],
            ),
            ("Γειά σου κόσμε", [(Greek, 1.0), (Afrikaans, 0.0)]),
            (
                "Kleine Häuser am See",
                [(German, 0.30193858529498924), (Dutch, 0.061740780421874836)],
            ),
            (
                "Ça coûte très cher, n'est-ce pas ?",
                [(French, 0.5140092516175093), (Spanish, 0.07095436524712216)],
            ),
            (
                "Jag älskar kött och smörgåsar",
                [
                    (Swedish, 0.99867203661991),
                    (Finnish, 0.0004956005861352473),
                ],
            ),
            (
                "Dobrý den, jak se máte",
                [(Czech, 0.3591673848680497), (Slovak, 0.22101506851703073)],
            ),
            // One word holds `ą` twice: counted once, it is not half the words.
            (
                "to jest mąką tak",
                [
                    (Finnish, 0.11256807008483873),
                    (Nynorsk, 0.06983378463177752),
                ],
            ),
        ] {
            assert_leading_values(&d, text, &want);
        }
    }

    #[test]
    fn english_and_chinese_are_told_apart() {
        let l = LanguageId::new(LanguageConfig {
            model: Model::Lingua,
            ..Default::default()
        })
        .unwrap();
        let (en, s) = l.detect("The committee met on Tuesday to review the proposal for a new public library in the city centre.");
        assert_eq!(en, "en");
        assert!(s > 0.5);
        assert_eq!(
            l.detect("中国人民银行今天宣布下调金融机构存款准备金率，以保持流动性合理充裕。")
                .0,
            "zh"
        );
        assert_eq!(l.detect("").0, "und");
        assert_eq!(l.detect("12345 -- !!").0, "und");
    }

    /// The demo's fortunes that whatlang called es and fr, and real technical Chinese lines
    /// with ASCII names in them (from the kernel's zh_CN docs and PostgreSQL's manual).
    #[test]
    fn short_english_and_mixed_chinese() {
        let l = lingua();
        for t in [
            "Disks travel in packs.",
            "As in certain cults it is possible to kill a process if you know its true name.",
            "Never trust an operating system you don't have sources for.",
            "Bus error -- driver executed.",
        ] {
            assert_eq!(l.detect(t).0, "en", "{t}");
        }
        for t in [
            "SET CONSTRAINTS 设置当前事务的约束模式",
            "使用 git format-patch 生成补丁，然后用 git send-email 发送。",
            "CONFIG_DEBUG_KERNEL 选项打开后才能看到这些调试选项",
            "请参阅 Documentation/process/submitting-patches.rst",
        ] {
            assert_eq!(l.detect(t).0, "zh", "{t}");
        }
        assert_eq!(l.detect("カーネルのドキュメントを翻訳しました。").0, "ja");
        assert_eq!(l.detect("커널 문서를 번역했습니다.").0, "ko");
    }

    #[test]
    fn whatlang_remains_an_option() {
        let l = LanguageId::new(LanguageConfig {
            model: Model::Whatlang,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            l.detect(
                "The committee met on Tuesday to review the proposal for a new public library."
            )
            .0,
            "en"
        );
    }

    /// lingua's n-gram lookups are memoized per thread (vendor/lingua/src/memo.rs): the
    /// values a detection gives with the memo cold, warm, and warmed by other texts in
    /// another order are the same bits. Fails when the memo answers a language from
    /// another's slot.
    #[test]
    fn lingua_memo_gives_the_values_of_a_cold_lookup() {
        let texts = [
            "Der Ausschuss hat am Dienstag den Vorschlag für eine neue Bibliothek geprüft.",
            "Le comité s'est réuni mardi pour examiner la proposition d'une nouvelle bibliothèque.",
            "El comité se reunió el martes para revisar la propuesta de una nueva biblioteca.",
            "Il comitato si è riunito martedì per esaminare la proposta di una nuova biblioteca.",
            "A comissão reuniu-se na terça-feira para analisar a proposta de uma nova biblioteca.",
            "De commissie kwam dinsdag bijeen om het voorstel voor een nieuwe bibliotheek te bekijken.",
            "Komitén sammanträdde i tisdags för att granska förslaget om ett nytt bibliotek.",
            "Komisja zebrała się we wtorek, aby rozpatrzyć propozycję nowej biblioteki.",
            "The committee met on Tuesday to review the proposal for a new public library.",
            "ab cd ef",
        ];
        let values = |order: Vec<usize>| {
            std::thread::spawn(move || {
                let d = LanguageDetectorBuilder::from_all_languages().build();
                let mut out = vec![vec![]; texts.len()];
                for i in order {
                    let mut v = d.compute_language_confidence_values(texts[i]);
                    v.sort_by_key(|&(l, _)| l);
                    out[i] = v;
                }
                out
            })
            .join()
            .unwrap()
        };
        let n = texts.len();
        let cold: Vec<_> = (0..n).map(|i| values(vec![i]).swap_remove(i)).collect();
        let same = |got: Vec<Vec<(Language, f64)>>| assert_eq!(got, cold);
        same(values((0..n).collect()));
        same(values((0..n).rev().chain(0..n).collect()));
        let top = |i: usize| cold[i].iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
        assert_eq!((top(0), top(7)), (Language::German, Language::Polish));
    }

    /// lingua's models come zstd-compressed from the table its build script writes
    /// (vendor/lingua/SLUICE.md): one sentence in each of 22 languages, many of them sharing a
    /// script (Cyrillic, Arabic, Devanagari, Latin), is told apart only when each language's
    /// own models are found and decoded. Fails when the table files a language's models under
    /// another language or leaves one out (checked by swapping two languages in build.rs).
    #[test]
    fn lingua_models_decode_from_the_compressed_table() {
        use Language::*;
        let cases = [
            (German, "Der Ausschuss hat am Dienstag den Vorschlag für eine neue Bibliothek geprüft."),
            (French, "Le comité s'est réuni mardi pour examiner la proposition d'une nouvelle bibliothèque."),
            (Spanish, "El comité se reunió el martes para revisar la propuesta de una nueva biblioteca."),
            (Italian, "Il comitato si è riunito martedì per esaminare la proposta di una nuova biblioteca."),
            (Portuguese, "A comissão reuniu-se na terça-feira para analisar a proposta de uma nova biblioteca."),
            (Dutch, "De commissie kwam dinsdag bijeen om het voorstel voor een nieuwe bibliotheek te bekijken."),
            (Swedish, "Komitén sammanträdde i tisdags för att granska förslaget om ett nytt bibliotek."),
            (Polish, "Komisja zebrała się we wtorek, aby rozpatrzyć propozycję nowej biblioteki."),
            (English, "The committee met on Tuesday to review the proposal for a new public library."),
            (Turkish, "Komite salı günü yeni bir halk kütüphanesi önerisini incelemek için toplandı."),
            (Czech, "Výbor se v úterý sešel, aby projednal návrh na novou veřejnou knihovnu."),
            (Hungarian, "A bizottság kedden ülésezett, hogy megvitassa az új közkönyvtárra vonatkozó javaslatot."),
            (Finnish, "Valiokunta kokoontui tiistaina käsittelemään ehdotusta uudesta yleisestä kirjastosta."),
            (Vietnamese, "Ủy ban đã họp vào thứ Ba để xem xét đề xuất xây dựng một thư viện công cộng mới."),
            (Indonesian, "Komite bertemu pada hari Selasa untuk meninjau usulan pembangunan perpustakaan umum yang baru."),
            (Russian, "Комитет собрался во вторник, чтобы рассмотреть предложение о новой библиотеке."),
            (Ukrainian, "Комітет зібрався у вівторок, щоб розглянути пропозицію щодо нової бібліотеки."),
            (Bulgarian, "Комисията се събра във вторник, за да разгледа предложението за нова библиотека."),
            (Arabic, "اجتمعت اللجنة يوم الثلاثاء لمراجعة الاقتراح الخاص بإنشاء مكتبة عامة جديدة."),
            (Persian, "کمیته روز سه‌شنبه برای بررسی پیشنهاد ساخت یک کتابخانه عمومی جدید تشکیل جلسه داد."),
            (Hindi, "समिति ने मंगलवार को एक नए सार्वजनिक पुस्तकालय के प्रस्ताव की समीक्षा के लिए बैठक की।"),
            (Marathi, "समितीने मंगळवारी नवीन सार्वजनिक ग्रंथालयाच्या प्रस्तावाचा आढावा घेण्यासाठी बैठक घेतली."),
        ];
        let d = LanguageDetectorBuilder::from_all_languages().build();
        let got: Vec<_> = cases
            .iter()
            .map(|(_, t)| d.detect_language_of(*t))
            .collect();
        let want: Vec<_> = cases.iter().map(|(l, _)| Some(*l)).collect();
        assert_eq!(got, want);
    }
}

//! Quality rule sets. Each judges one document's text: keep it, keep a rewritten text (C4
//! drops lines), or drop it with a reason code such as `gopher.stop_words`.

mod c4;
mod fineweb;
mod gopher;
mod repetition;

pub use c4::C4Quality;
pub use fineweb::FineWebQuality;
pub use gopher::GopherQuality;
pub use repetition::GopherRepetition;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use pipeline::document::{str_column, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{
    Decisions, Stage, StageContext, StageEnv, StageError, StageInfo, StageKind, StageOutput,
    StageRegistry,
};
use serde::de::DeserializeOwned;

/// One rule set's decision on a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Keep,
    /// Keep, with this text instead.
    Rewrite(String),
    /// Drop, with the reason code.
    Drop(&'static str),
}

/// A document-level rule set.
pub trait DocRule: Send + Sync {
    fn name(&self) -> &'static str;
    fn judge(&self, text: &str) -> Judgement;
}

/// Runs a [`DocRule`] over the `text` column of a batch.
pub struct RuleStage<R: DocRule>(pub R);

impl<R: DocRule> Stage for RuleStage<R> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn process(
        &self,
        batch: RecordBatch,
        _ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let mut d = Decisions::with_capacity(batch.num_rows());
        let mut rewritten: Option<StringBuilder> = None;
        for i in 0..text.len() {
            let j = self.0.judge(text.value(i));
            if let Judgement::Rewrite(_) = &j {
                if rewritten.is_none() {
                    let mut b = StringBuilder::with_capacity(text.len(), 0);
                    for k in 0..i {
                        b.append_value(text.value(k));
                    }
                    rewritten = Some(b);
                }
            }
            match j {
                Judgement::Keep => {
                    d.keep();
                    if let Some(b) = &mut rewritten {
                        b.append_value(text.value(i));
                    }
                }
                Judgement::Rewrite(t) => {
                    d.keep();
                    rewritten.as_mut().expect("created above").append_value(t);
                }
                Judgement::Drop(reason) => {
                    d.reject(reason, None);
                    if let Some(b) = &mut rewritten {
                        b.append_value(text.value(i));
                    }
                }
            }
        }
        let batch = match rewritten {
            None => batch,
            Some(mut b) => {
                let idx = batch.schema().index_of(TEXT)?;
                let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
                cols[idx] = Arc::new(b.finish());
                RecordBatch::try_new(batch.schema(), cols)?
            }
        };
        Ok(d.finish(batch))
    }
}

fn build<C, R>(table: toml::Table, make: fn(C) -> Result<R, String>) -> Result<StageKind, String>
where
    C: DeserializeOwned,
    R: DocRule + 'static,
{
    let c: C = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RuleStage(make(c)?))))
}

pub(crate) fn register(r: &mut StageRegistry) {
    r.register(StageInfo {
        type_name: "gopher_quality",
        summary: "Gopher quality rules with datatrove's defaults; English-only rules skipped \
                  on CJK text",
        outputs: "gopher.short_doc, gopher.long_doc, gopher.stop_words, \
                  gopher.below_avg_word_length, gopher.above_avg_word_length, \
                  gopher.below_alpha_threshold, gopher.too_many_hashes, \
                  gopher.too_many_ellipsis, gopher.too_many_bullets, gopher.too_many_end_ellipsis",
        factory: |t, _: &StageEnv| build(t, GopherQuality::new),
    });
    r.register(StageInfo {
        type_name: "gopher_repetition",
        summary: "Gopher repetition rules; n-grams counted per character on CJK text",
        outputs: "gopher_repetition.dup_line_frac, .dup_para_frac, .dup_line_char_frac, \
                  .dup_para_char_frac, .top_N_gram, .duplicated_N_gram, .empty",
        factory: |t, _: &StageEnv| build(t, GopherRepetition::new),
    });
    r.register(StageInfo {
        type_name: "c4_quality",
        summary: "C4 line and document rules; rewrites the text without the dropped lines",
        outputs: "c4.too_few_sentences, c4.curly_bracket, c4.lorem_ipsum",
        factory: |t, _: &StageEnv| build(t, C4Quality::new),
    });
    r.register(StageInfo {
        type_name: "fineweb_quality",
        summary: "FineWeb's line-punctuation, short-line, duplicate-line and list rules",
        outputs: "fineweb.line_punct_ratio, fineweb.short_line_ratio, fineweb.char_dup_ratio, \
                  fineweb.list_ratio, fineweb.empty",
        factory: |t, _: &StageEnv| build(t, FineWebQuality::new),
    });
}

/// Checks that a ratio threshold lies in [0, 1].
pub(crate) fn check_ratio(name: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{name} = {v} is not a fraction; use a value between 0 and 1"
        ))
    }
}

/// Elements seen before (count) and their total length in chars (datatrove's
/// `find_duplicates`).
pub(crate) fn find_duplicates<'a>(items: impl IntoIterator<Item = &'a str>) -> (usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let (mut n, mut chars) = (0, 0);
    for it in items {
        if !seen.insert(it) {
            n += 1;
            chars += crate::text::char_len(it);
        }
    }
    (n, chars)
}

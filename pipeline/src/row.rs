//! The row-stage base: a stage that judges one document at a time. It says keep, keep with
//! another text, or drop with a reason; it may fill columns of its own and add to counters.
//! [`RowAdapter`] turns any [`RowStage`] into a [`Stage`]: it reads the columns, builds the
//! keep mask, the rewritten `text` (copied only once a row is rewritten), the stage's columns
//! and the counters, so no stage swaps Arrow columns by hand.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, Float32Builder, RecordBatch, StringArray, StringBuilder,
    UInt32Builder,
};

use crate::document::{str_column, with_column, DOMAIN, META, TEXT};
use crate::error::StageError;
use crate::stage::{Decisions, Stage, StageContext, StageOutput};

/// One stage's decision on one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    /// Keep, with this text instead.
    Rewrite(String),
    /// Drop, with a reason code (`<stage type>.<rule>`) and an optional detail.
    Drop {
        reason: Cow<'static, str>,
        detail: Option<String>,
    },
}

impl Verdict {
    /// Drop with a fixed reason and no detail.
    pub fn drop(reason: &'static str) -> Self {
        Verdict::Drop {
            reason: Cow::Borrowed(reason),
            detail: None,
        }
    }

    /// Drop with a fixed reason and a detail.
    pub fn drop_with(reason: &'static str, detail: impl Into<String>) -> Self {
        Verdict::Drop {
            reason: Cow::Borrowed(reason),
            detail: Some(detail.into()),
        }
    }

    /// [`Verdict::Keep`] when `text` equals the original, else [`Verdict::Rewrite`].
    pub fn keep_as(original: &str, text: String) -> Self {
        if text == original {
            Verdict::Keep
        } else {
            Verdict::Rewrite(text)
        }
    }
}

/// The Arrow type of a column a row stage fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Utf8,
    Float32,
    UInt32,
}

/// What a row stage sees of one document.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub text: &'a str,
    /// The `domain` column, when the stage asked for it ([`RowStage::reads_domain`]).
    pub domain: &'a str,
    /// The `meta` JSON object, when the stage asked for it ([`RowStage::reads_meta`]) and
    /// the row has one.
    pub meta: Option<&'a str>,
}

/// The string field `key` of a document's `meta` JSON object, if it has one.
pub fn meta_field(meta: Option<&str>, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(meta?).ok()?;
    v.get(key)?.as_str().map(str::to_string)
}

/// A per-document stage. `judge` must fill every column of [`columns`](Self::columns) once
/// per call; the adapter checks it.
pub trait RowStage: Send + Sync {
    fn name(&self) -> &str;
    /// Columns this stage writes besides `text`, in order: added, or replaced when present.
    fn columns(&self) -> Vec<(String, ColumnType)> {
        Vec::new()
    }
    /// Counter names; `judge` adds to them by index through [`RowOut::count`].
    fn counters(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether `judge` needs the `domain` column.
    fn reads_domain(&self) -> bool {
        false
    }
    /// Whether `judge` needs the `meta` column.
    fn reads_meta(&self) -> bool {
        false
    }
    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict;
}

enum Column {
    Utf8(StringBuilder),
    Float32(Float32Builder),
    UInt32(UInt32Builder),
}

impl Column {
    fn new(t: ColumnType, n: usize) -> Self {
        match t {
            ColumnType::Utf8 => Column::Utf8(StringBuilder::with_capacity(n, n * 4)),
            ColumnType::Float32 => Column::Float32(Float32Builder::with_capacity(n)),
            ColumnType::UInt32 => Column::UInt32(UInt32Builder::with_capacity(n)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Utf8(b) => b.len(),
            Column::Float32(b) => b.len(),
            Column::UInt32(b) => b.len(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Utf8(b) => Arc::new(b.finish()),
            Column::Float32(b) => Arc::new(b.finish()),
            Column::UInt32(b) => Arc::new(b.finish()),
        }
    }
}

/// The stage's columns and counters for the batch being judged.
pub struct RowOut {
    columns: Vec<Column>,
    counts: Vec<u64>,
}

impl RowOut {
    /// Sets this row's value of column `col` (an index into [`RowStage::columns`]).
    /// Panics when the column has another type: a bug in the stage.
    pub fn str(&mut self, col: usize, v: &str) {
        match &mut self.columns[col] {
            Column::Utf8(b) => b.append_value(v),
            _ => panic!("column {col} is not Utf8"),
        }
    }

    /// Sets this row's value of a Utf8 column; `None` is written as null.
    pub fn opt_str(&mut self, col: usize, v: Option<&str>) {
        match &mut self.columns[col] {
            Column::Utf8(b) => b.append_option(v),
            _ => panic!("column {col} is not Utf8"),
        }
    }

    /// Sets this row's value of a Float32 column; `None` is written as null.
    pub fn f32(&mut self, col: usize, v: Option<f32>) {
        match &mut self.columns[col] {
            Column::Float32(b) => b.append_option(v),
            _ => panic!("column {col} is not Float32"),
        }
    }

    pub fn u32(&mut self, col: usize, v: u32) {
        match &mut self.columns[col] {
            Column::UInt32(b) => b.append_value(v),
            _ => panic!("column {col} is not UInt32"),
        }
    }

    /// Adds `n` to counter `i` (an index into [`RowStage::counters`]).
    pub fn count(&mut self, i: usize, n: u64) {
        self.counts[i] += n;
    }
}

/// Runs a [`RowStage`] over a batch as a [`Stage`].
pub struct RowAdapter<R: RowStage> {
    stage: R,
    columns: Vec<(String, ColumnType)>,
    counters: Vec<String>,
}

impl<R: RowStage> RowAdapter<R> {
    pub fn new(stage: R) -> Self {
        RowAdapter {
            columns: stage.columns(),
            counters: stage.counters(),
            stage,
        }
    }
}

/// The `text` column, copied up to the first rewritten row and written from there on.
struct TextOut<'a> {
    original: &'a StringArray,
    rewritten: Option<StringBuilder>,
}

impl TextOut<'_> {
    fn push(&mut self, i: usize, new: Option<String>) {
        if new.is_some() && self.rewritten.is_none() {
            let n = self.original.len();
            let mut b = StringBuilder::with_capacity(n, self.original.value_data().len());
            for k in 0..i {
                b.append_value(self.original.value(k));
            }
            self.rewritten = Some(b);
        }
        if let Some(b) = &mut self.rewritten {
            b.append_value(new.as_deref().unwrap_or(self.original.value(i)));
        }
    }
}

impl<R: RowStage> Stage for RowAdapter<R> {
    fn name(&self) -> &str {
        self.stage.name()
    }

    fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        let added: Vec<&str> = self.columns.iter().map(|c| c.0.as_str()).collect();
        Ok(crate::stage::columns_plus(input, &added))
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let domain = match self.stage.reads_domain() {
            true => Some(str_column(&batch, DOMAIN)?),
            false => None,
        };
        let meta = match self.stage.reads_meta() {
            true => Some(str_column(&batch, META)?),
            false => None,
        };
        let n = text.len();
        let mut d = Decisions::with_capacity(n);
        let mut text_out = TextOut {
            original: text,
            rewritten: None,
        };
        let mut out = RowOut {
            columns: self.columns.iter().map(|c| Column::new(c.1, n)).collect(),
            counts: vec![0; self.counters.len()],
        };
        for i in 0..n {
            let doc = Doc {
                text: text.value(i),
                domain: domain.map_or("", |c| c.value(i)),
                meta: meta.filter(|c| c.is_valid(i)).map(|c| c.value(i)),
            };
            match self.stage.judge(doc, &mut out) {
                Verdict::Keep => {
                    d.keep();
                    text_out.push(i, None);
                }
                Verdict::Rewrite(t) => {
                    d.keep();
                    text_out.push(i, Some(t));
                }
                Verdict::Drop { reason, detail } => {
                    d.reject(&reason, detail.as_deref());
                    text_out.push(i, None);
                }
            }
            if let Some(c) = out.columns.iter().position(|c| c.len() != i + 1) {
                return Err(StageError::Internal(format!(
                    "stage '{}' wrote {} values to column '{}' after {} rows",
                    self.stage.name(),
                    out.columns[c].len(),
                    self.columns[c].0,
                    i + 1
                )));
            }
        }
        for (name, n) in self.counters.iter().zip(&out.counts) {
            ctx.count(name, *n);
        }
        let mut batch = match text_out.rewritten {
            Some(mut b) => with_column(&batch, TEXT, Arc::new(b.finish()))?,
            None => batch,
        };
        for ((name, _), mut c) in self.columns.iter().zip(out.columns) {
            batch = with_column(&batch, name, c.finish())?;
        }
        Ok(d.finish(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::batch_of;

    /// Upper-cases short texts, drops ones with "x", labels each with its length.
    struct Toy;

    impl RowStage for Toy {
        fn name(&self) -> &str {
            "toy"
        }
        fn columns(&self) -> Vec<(String, ColumnType)> {
            vec![("toy_len".into(), ColumnType::UInt32)]
        }
        fn counters(&self) -> Vec<String> {
            vec!["rewritten".into()]
        }
        fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
            out.u32(0, doc.text.len() as u32);
            if doc.text.contains('x') {
                return Verdict::drop_with("toy.x", "has x");
            }
            out.count(0, 1);
            Verdict::keep_as(doc.text, doc.text.to_uppercase())
        }
    }

    #[test]
    fn rewrites_drops_columns_and_counters() {
        let batch = batch_of(&["AB", "cd", "xy", "EF"]);
        let mut ctx = StageContext::new(0);
        let out = RowAdapter::new(Toy).process(batch, &mut ctx).unwrap();
        let text = str_column(&out.batch, TEXT).unwrap();
        let got: Vec<&str> = (0..4).map(|i| text.value(i)).collect();
        // A dropped row keeps its original text so the rejects show what was judged.
        assert_eq!(got, ["AB", "CD", "xy", "EF"]);
        let keep: Vec<bool> = (0..4).map(|i| out.keep.value(i)).collect();
        assert_eq!(keep, [true, true, false, true]);
        assert_eq!(out.reason.value(2), "toy.x");
        assert_eq!(out.detail.value(2), "has x");
        assert_eq!(ctx.take_counters()["rewritten"], 3);
        assert!(out.batch.column_by_name("toy_len").is_some());
    }

    /// Nothing rewritten: the text column is the input's own array, not a copy.
    #[test]
    fn untouched_text_is_not_copied() {
        let batch = batch_of(&["AB", "xy"]);
        let before = str_column(&batch, TEXT).unwrap().value_data().as_ptr();
        let out = RowAdapter::new(Toy)
            .process(batch, &mut StageContext::new(0))
            .unwrap();
        let after = str_column(&out.batch, TEXT).unwrap().value_data().as_ptr();
        assert_eq!(before, after);
    }

    struct Forgetful;

    impl RowStage for Forgetful {
        fn name(&self) -> &str {
            "forgetful"
        }
        fn columns(&self) -> Vec<(String, ColumnType)> {
            vec![("c".into(), ColumnType::Utf8)]
        }
        fn judge(&self, _: Doc<'_>, _: &mut RowOut) -> Verdict {
            Verdict::Keep
        }
    }

    #[test]
    fn a_stage_that_skips_a_column_is_an_internal_error() {
        let e = RowAdapter::new(Forgetful)
            .process(batch_of(&["a"]), &mut StageContext::new(0))
            .err()
            .unwrap();
        assert!(matches!(e, StageError::Internal(_)), "{e}");
        assert!(e.to_string().contains("column 'c'"), "{e}");
    }
}

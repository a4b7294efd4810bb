//! `html_extract`: replaces a page's HTML with its main text (`html::extract`) and fills
//! `html_title`, `html_lang` and `html_kept` (the share of the page's visible text kept).
//! Documents whose `meta.content_type` says they are not HTML (WET text, `text/plain`
//! responses) pass unchanged; a page with no main text left is dropped
//! (`html_extract.empty`).

use pipeline::stage::parse_stage_table;
use pipeline::{
    meta_field, ColumnType, Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict,
};
use serde::Deserialize;

use crate::html::extract::{extract, Favour, Options};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HtmlExtractConfig {
    /// `precision`, `balanced` or `recall`: how a block in doubt is decided.
    pub favour: Favour,
    /// Keep links' targets, as `[text](url)`.
    pub links: bool,
    /// Keep images' alt text.
    pub images: bool,
    /// Keep comment sections.
    pub comments: bool,
    /// Put the page's title first, as a line of its own.
    pub title: bool,
    /// Drop a page with fewer characters of main text than this.
    pub min_chars: usize,
}

impl Default for HtmlExtractConfig {
    fn default() -> Self {
        HtmlExtractConfig {
            favour: Favour::Balanced,
            links: false,
            images: false,
            comments: false,
            title: false,
            min_chars: 1,
        }
    }
}

pub struct HtmlExtract {
    c: HtmlExtractConfig,
    opts: Options,
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: HtmlExtractConfig = parse_stage_table(table)?;
    let opts = Options {
        links: c.links,
        images: c.images,
        comments: c.comments,
        favour: c.favour,
    };
    Ok(StageKind::Stream(Box::new(RowAdapter::new(HtmlExtract {
        c,
        opts,
    }))))
}

/// Whether `meta` says the document is something other than HTML.
fn not_html(meta: Option<&str>) -> bool {
    // (Most documents carry no content type: skip parsing their meta.)
    meta.is_some_and(|m| m.contains("content_type"))
        && meta_field(meta, "content_type")
            .is_some_and(|c| !matches!(c.as_str(), "text/html" | "application/xhtml+xml"))
}

impl RowStage for HtmlExtract {
    fn name(&self) -> &str {
        "html_extract"
    }

    fn reads_meta(&self) -> bool {
        true
    }

    fn columns(&self) -> Vec<(String, ColumnType)> {
        vec![
            ("html_title".into(), ColumnType::Utf8),
            ("html_lang".into(), ColumnType::Utf8),
            ("html_kept".into(), ColumnType::Float32),
        ]
    }

    fn counters(&self) -> Vec<String> {
        vec!["not_html".into()]
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        if not_html(doc.meta) {
            out.count(0, 1);
            out.opt_str(0, None);
            out.opt_str(1, None);
            out.f32(2, None);
            return Verdict::Keep;
        }
        let e = extract(doc.text, &self.opts);
        out.opt_str(0, e.title.as_deref());
        out.opt_str(1, e.lang.as_deref());
        out.f32(2, Some(e.kept));
        if e.text.chars().count() < self.c.min_chars {
            return Verdict::drop("html_extract.empty");
        }
        match (&e.title, self.c.title) {
            (Some(t), true) => Verdict::Rewrite(format!("{t}\n\n{}", e.text)),
            _ => Verdict::Rewrite(e.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float32Array};
    use pipeline::document::{str_column, TEXT};
    use pipeline::StageContext;

    #[test]
    fn pages_become_text_other_documents_pass_and_empty_pages_go() {
        let mut t = toml::Table::new();
        t.insert("title".into(), true.into());
        let StageKind::Stream(stage) = build(t, &StageEnv::new(".")).unwrap() else {
            panic!("a row stage")
        };
        let html = r#"{"url":"https://e.org/","content_type":"text/html"}"#;
        let plain = r#"{"url":"https://e.org/a.txt","content_type":"text/plain"}"#;
        let mut batch =
            pipeline::testing::batch_with_meta(&[Some(html), Some(plain), None, Some(html)]);
        let texts = [
            "<html lang=de><title>Seite</title><body><nav>Menü</nav><p>Ein Absatz.</p></body></html>",
            "<p>plain text that looks like markup</p>",
            "<p>no meta: taken as HTML</p>",
            "<html><body><nav><a href=/>Home</a></nav></body></html>",
        ];
        batch = pipeline::document::with_column(
            &batch,
            TEXT,
            std::sync::Arc::new(arrow::array::StringArray::from(texts.to_vec())),
        )
        .unwrap();
        let out = stage.process(batch, &mut StageContext::new(0)).unwrap();
        let keep: Vec<bool> = (0..4).map(|i| out.keep.value(i)).collect();
        assert_eq!(keep, [true, true, true, false]);
        assert_eq!(out.reason.value(3), "html_extract.empty");
        let text = str_column(&out.batch, TEXT).unwrap();
        assert_eq!(text.value(0), "Seite\n\nEin Absatz.");
        assert_eq!(text.value(1), texts[1], "text/plain passes unchanged");
        assert_eq!(text.value(2), "no meta: taken as HTML");
        let lang = str_column(&out.batch, "html_lang").unwrap();
        assert_eq!((lang.value(0), lang.is_null(1)), ("de", true));
        let kept = out.batch.column_by_name("html_kept").unwrap();
        let kept = kept.as_any().downcast_ref::<Float32Array>().unwrap();
        assert!(kept.value(0) > 0.5 && kept.is_null(1));
    }
}

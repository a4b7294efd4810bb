//! Main-content extraction from one HTML page, in one pass over its tokens with a bounded
//! stack (no DOM, no recursion, so 50 MB of nested `<div>`s cost memory for 512 of them).
//!
//! What is left out: `script`/`style`/`template`/`svg`/forms' controls, `nav`, `aside`,
//! `footer`, a `header` outside the article, hidden elements, and elements whose class, id
//! or ARIA role names boilerplate (menus, breadcrumbs, cookie and newsletter banners, share
//! widgets, related posts, comments unless asked for, ads). The rest becomes blocks
//! (paragraphs, headings, list items, `<pre>` code, tables, math), and the blocks are sorted
//! into content and boilerplate by length and link density with their neighbours as context,
//! the way jusText does; when the page marks its article (`main`, `article`,
//! `role="main"`) and most of the content is inside it, only that is kept.
//!
//! What is kept as written: `<pre>` (and a `<code>` that starts a block) with its
//! indentation and line breaks; `<br>` line breaks (poetry, addresses); tables as one line
//! per row, cells joined by ` | `; MathML as its TeX annotation (else its `alttext`, else
//! its text), MathJax's `math/tex` scripts and KaTeX's annotation, as `$…$` (`$$…$$` for
//! display math); CJK text without the spaces that source line breaks would add.

use super::tokens::{decode_entities, Token, Tokenizer};

/// Which way to lean when a block is in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Favour {
    Precision,
    Balanced,
    Recall,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Keep links' targets, as `[text](url)`.
    pub links: bool,
    /// Keep images' alt text.
    pub images: bool,
    /// Keep comment sections.
    pub comments: bool,
    pub favour: Favour,
}

/// What a page gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub text: String,
    pub title: Option<String>,
    /// The page's `<html lang>`.
    pub lang: Option<String>,
    /// Share of the page's visible characters (outside scripts and styles) kept.
    pub kept: f32,
}

const MAX_DEPTH: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Para,
    Heading,
    Item,
    Pre,
    Table,
    /// Display math, a block of its own.
    Math,
}

#[derive(Debug)]
struct Block {
    kind: Kind,
    text: String,
    /// Characters, CJK counted three times (a CJK character carries about a word).
    weight: usize,
    link_weight: usize,
    in_main: bool,
}

/// An open element.
struct Open {
    name: String,
    skip: bool,
    pre: bool,
    main: bool,
    link: bool,
    table: bool,
    /// With `links`: the link's target and where its text starts in the block.
    href: Option<(String, usize)>,
}

const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

const SKIP_TAGS: [&str; 15] = [
    "script", "style", "noscript", "template", "iframe", "object", "svg", "canvas", "select",
    "button", "textarea", "nav", "aside", "footer", "head",
];

const BLOCK_TAGS: [&str; 37] = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "table",
    "tr",
    "form",
    "fieldset",
    "figure",
    "figcaption",
    "address",
    "hr",
    "details",
    "summary",
    "center",
    "body",
    "caption",
    "html",
];

/// Class, id and role words that mark boilerplate.
const BOILERPLATE: [&str; 44] = [
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "footer",
    "sidebar",
    "breadcrumb",
    "breadcrumbs",
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "banner",
    "share",
    "sharing",
    "social",
    "related",
    "recommended",
    "advert",
    "advertisement",
    "ads",
    "ad",
    "sponsored",
    "promo",
    "popup",
    "modal",
    "newsletter",
    "subscribe",
    "subscription",
    "signup",
    "login",
    "signin",
    "pagination",
    "pager",
    "skip",
    "toolbar",
    "widget",
    "contentinfo",
    "complementary",
    "search",
    "masthead",
    "katex-html",
    "print-only",
];

const COMMENT_WORDS: [&str; 4] = ["comment", "comments", "disqus", "respond"];

/// Whole class or id values that mark an article's information line (author, date, views):
/// matched unsplit, since `meta` or `info` alone also name content boxes.
const INFO_LINE: [&str; 11] = [
    "byline",
    "dateline",
    "entry-meta",
    "post-meta",
    "article-meta",
    "entry-info",
    "post-info",
    "article-info",
    "author-info",
    "posted-on",
    "publish-date",
];

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF
        | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

fn attr<'a>(attrs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Elements never taken for boilerplate by their class (`<html class="sidebar-visible">`
/// is a page state, `<pre class="…">` is code).
const NEVER_BOILERPLATE: [&str; 13] = [
    "html", "body", "main", "article", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "math",
];

/// Whether an element's attributes mark it as boilerplate or hidden.
fn boilerplate(name: &str, attrs: &[(String, String)], comments: bool) -> bool {
    if NEVER_BOILERPLATE.contains(&name) {
        return false;
    }
    if attr(attrs, "hidden").is_some() || attr(attrs, "aria-hidden") == Some("true") {
        return true;
    }
    if attr(attrs, "style").is_some_and(|s| {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        s.to_ascii_lowercase().contains("display:none")
    }) {
        return true;
    }
    if name.starts_with("mjx-") && name != "mjx-container" && name != "mjx-assistive-mml" {
        return true;
    }
    let values = ["class", "id", "role"]
        .iter()
        .filter_map(|k| attr(attrs, k));
    let whole = values.clone().flat_map(|v| v.split_whitespace());
    if whole
        .map(str::to_ascii_lowercase)
        .any(|w| INFO_LINE.contains(&w.as_str()))
    {
        return true;
    }
    let words = values
        .flat_map(|v| v.split(|c: char| c.is_whitespace() || c == '-' || c == '_'))
        .map(str::to_ascii_lowercase);
    for w in words {
        if BOILERPLATE.contains(&w.as_str()) || (!comments && COMMENT_WORDS.contains(&w.as_str())) {
            return true;
        }
    }
    false
}

/// The block being written.
struct Cur {
    kind: Kind,
    text: String,
    weight: usize,
    link_weight: usize,
    space: bool,
    newline_space: bool,
}

impl Cur {
    fn new() -> Self {
        Cur {
            kind: Kind::Para,
            text: String::new(),
            weight: 0,
            link_weight: 0,
            space: false,
            newline_space: false,
        }
    }

    fn push_char(&mut self, c: char, link: bool) {
        if self.space && !self.text.is_empty() && !self.text.ends_with('\n') {
            let last = self.text.chars().next_back().unwrap_or(' ');
            if !(self.newline_space && is_cjk(last) && is_cjk(c)) && last != ' ' {
                self.text.push(' ');
            }
        }
        self.space = false;
        self.newline_space = false;
        self.text.push(c);
        let w = if is_cjk(c) { 3 } else { 1 };
        self.weight += w;
        if link {
            self.link_weight += w;
        }
    }

    /// Text outside `<pre>`: white space collapses to one space (none between CJK
    /// characters across a source line break).
    fn push_collapsed(&mut self, s: &str, link: bool) {
        for c in s.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                self.space = true;
                self.newline_space |= c == '\n';
            } else {
                self.push_char(if c == '\u{a0}' { ' ' } else { c }, link);
            }
        }
    }

    /// Text inside `<pre>`: as written.
    fn push_verbatim(&mut self, s: &str) {
        if self.space && !self.text.is_empty() && !self.text.ends_with(['\n', ' ']) {
            self.text.push(' ');
        }
        self.space = false;
        for c in s.chars() {
            if c == '\r' {
                continue;
            }
            self.text.push(c);
            if !c.is_whitespace() {
                self.weight += if is_cjk(c) { 3 } else { 1 };
            }
        }
    }

    fn line_break(&mut self) {
        // Trailing spaces of the line go.
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        self.text.push('\n');
        self.space = false;
    }
}

/// A data table's rows being collected.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    row: Vec<String>,
    weight: usize,
    link_weight: usize,
}

/// An open `<math>`.
#[derive(Default)]
struct Math {
    tex: String,
    alt: Option<String>,
    text: String,
    display: bool,
    in_tex: bool,
}

struct Walker<'o> {
    opts: &'o Options,
    stack: Vec<Open>,
    skip: usize,
    pre: usize,
    main: usize,
    link: usize,
    cur: Cur,
    blocks: Vec<Block>,
    table: Option<Table>,
    math: Option<Math>,
    /// Inside a MathJax `math/tex` script: whether it is display math.
    tex_script: Option<bool>,
    in_title: bool,
    title: Option<String>,
    lang: Option<String>,
    visible: usize,
}

impl Walker<'_> {
    /// Ends the block being written (a cell, inside a data table).
    fn flush(&mut self) {
        let cur = std::mem::replace(&mut self.cur, Cur::new());
        if let Some(t) = self.table.as_mut() {
            let text = cur.text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                t.row.push(text);
            }
            t.weight += cur.weight;
            t.link_weight += cur.link_weight;
            return;
        }
        let text = if cur.kind == Kind::Pre {
            cur.text.trim_end().trim_start_matches('\n').to_string()
        } else {
            let lines: Vec<&str> = cur.text.lines().map(str::trim).collect();
            lines.join("\n").trim().to_string()
        };
        if !text.is_empty() {
            self.blocks.push(Block {
                kind: cur.kind,
                text,
                weight: cur.weight,
                link_weight: cur.link_weight,
                in_main: self.main > 0,
            });
        }
    }

    fn end_row(&mut self) {
        self.flush();
        if let Some(t) = self.table.as_mut() {
            if !t.row.is_empty() {
                let row = std::mem::take(&mut t.row).join(" | ");
                t.rows.push(row);
            }
        }
    }

    fn end_table(&mut self) {
        self.end_row();
        if let Some(t) = self.table.take() {
            if !t.rows.is_empty() {
                self.blocks.push(Block {
                    kind: Kind::Table,
                    text: t.rows.join("\n"),
                    weight: t.weight,
                    link_weight: t.link_weight,
                    in_main: self.main > 0,
                });
            }
        }
    }

    fn start(&mut self, name: String, attrs: Vec<(String, String)>) {
        if name == "html" {
            self.lang = attr(&attrs, "lang")
                .map(str::to_string)
                .filter(|l| !l.is_empty());
        }
        if name == "title" && self.title.is_none() {
            self.in_title = true;
        }
        if self.skip > 0 {
            if !VOID.contains(&name.as_str()) && self.stack.len() < MAX_DEPTH {
                self.stack.push(Open {
                    name,
                    skip: false,
                    pre: false,
                    main: false,
                    link: false,
                    table: false,
                    href: None,
                });
            }
            return;
        }
        if name == "script" {
            let ty = attr(&attrs, "type").unwrap_or("").to_ascii_lowercase();
            if ty.starts_with("math/tex") {
                self.tex_script = Some(ty.contains("mode=display"));
            }
        }
        if let Some(m) = self.math.as_mut() {
            if name == "annotation"
                && attr(&attrs, "encoding")
                    .is_some_and(|e| e.eq_ignore_ascii_case("application/x-tex"))
            {
                m.in_tex = true;
            }
        }
        match name.as_str() {
            "br" => {
                if self.pre > 0 {
                    self.cur.push_verbatim("\n");
                } else {
                    self.cur.line_break();
                }
                return;
            }
            "img" if self.opts.images => {
                if let Some(alt) = attr(&attrs, "alt").filter(|a| !a.trim().is_empty()) {
                    self.cur.push_collapsed(&format!(" {alt} "), self.link > 0);
                }
                return;
            }
            _ if VOID.contains(&name.as_str()) => {
                if name == "hr" {
                    self.flush();
                }
                return;
            }
            _ => {}
        }
        self.implied_ends(&name);
        let in_main = self.main > 0;
        let skip = (SKIP_TAGS.contains(&name.as_str()) && self.tex_script.is_none())
            || (name == "header" && !in_main)
            || boilerplate(&name, &attrs, self.opts.comments);
        let block = BLOCK_TAGS.contains(&name.as_str()) || matches!(name.as_str(), "td" | "th");
        if block && !skip {
            if name == "table" && self.table.is_some() {
                // A table inside a table: the outer one lays out the page.
                let outer = self.table.take().expect("checked");
                self.blocks_from_rows(outer);
            }
            self.flush();
            self.cur.kind = match name.as_str() {
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Kind::Heading,
                "li" | "dt" | "dd" => Kind::Item,
                "pre" => Kind::Pre,
                _ => Kind::Para,
            };
            if name == "table" {
                self.table = Some(Table::default());
            }
            if name == "tr" {
                self.end_row();
            }
        } else if block && skip {
            self.flush();
        }
        let code_block = name == "code" && self.pre == 0 && self.cur.text.trim().is_empty();
        if code_block {
            self.cur.kind = Kind::Pre;
        }
        if name == "math" {
            self.math = Some(Math {
                alt: attr(&attrs, "alttext").map(str::to_string),
                display: attr(&attrs, "display") == Some("block"),
                ..Default::default()
            });
        }
        let open = Open {
            skip,
            pre: name == "pre" || code_block,
            main: matches!(name.as_str(), "main" | "article")
                || attr(&attrs, "role") == Some("main"),
            // An in-page anchor (`<h2><a href="#usage">`) is not a link away.
            link: name == "a" && attr(&attrs, "href").is_some_and(|h| !h.starts_with('#')),
            table: name == "table",
            href: (self.opts.links && name == "a" && self.pre == 0)
                .then(|| attr(&attrs, "href"))
                .flatten()
                .filter(|h| !h.starts_with('#') && !h.trim().is_empty())
                .map(|h| (h.trim().to_string(), self.cur.text.len())),
            name,
        };
        self.skip += usize::from(open.skip);
        self.pre += usize::from(open.pre);
        self.main += usize::from(open.main);
        self.link += usize::from(open.link);
        if self.stack.len() < MAX_DEPTH {
            self.stack.push(open);
        } else {
            // Too deep to track: it will not be closed, so it changes nothing.
            self.skip -= usize::from(open.skip);
            self.pre -= usize::from(open.pre);
            self.main -= usize::from(open.main);
            self.link -= usize::from(open.link);
        }
    }

    /// A table that turned out to lay out the page: its rows so far become paragraphs.
    fn blocks_from_rows(&mut self, t: Table) {
        let mut text = t.rows.join("\n");
        if !t.row.is_empty() {
            text.push('\n');
            text.push_str(&t.row.join(" "));
        }
        if !text.trim().is_empty() {
            self.blocks.push(Block {
                kind: Kind::Para,
                text: text.trim().to_string(),
                weight: t.weight,
                link_weight: t.link_weight,
                in_main: self.main > 0,
            });
        }
    }

    /// End tags a start tag implies (`<li>` closes an open `<li>`, `<p>` a `<p>`, …).
    fn implied_ends(&mut self, name: &str) {
        let closes: &[&str] = match name {
            "li" => &["li"],
            "dt" | "dd" => &["dt", "dd"],
            "td" | "th" => &["td", "th"],
            "tr" => &["tr", "td", "th"],
            "p" | "div" | "ul" | "ol" | "table" | "pre" | "blockquote" | "h1" | "h2" | "h3"
            | "h4" | "h5" | "h6" => &["p"],
            _ => return,
        };
        let stop: &[&str] = match name {
            "li" => &["ul", "ol"],
            "td" | "th" | "tr" => &["table"],
            _ => &["div", "section", "article", "li", "td", "th", "body"],
        };
        let at = self
            .stack
            .iter()
            .rposition(|o| closes.contains(&o.name.as_str()) || stop.contains(&o.name.as_str()));
        if let Some(k) = at.filter(|&k| closes.contains(&self.stack[k].name.as_str())) {
            self.close_to(k);
        }
    }

    fn end(&mut self, name: &str) {
        if name == "title" {
            self.in_title = false;
        }
        if name == "script" {
            self.tex_script = None;
        }
        if let Some(k) = self.stack.iter().rposition(|o| o.name == name) {
            self.close_to(k);
        }
    }

    /// Closes the open elements from the top of the stack down to index `k`.
    fn close_to(&mut self, k: usize) {
        while self.stack.len() > k {
            let o = self.stack.pop().expect("len > k");
            self.skip -= usize::from(o.skip);
            self.pre -= usize::from(o.pre);
            self.main -= usize::from(o.main);
            self.link -= usize::from(o.link);
            if self.skip > 0 || o.skip {
                continue;
            }
            if let Some((href, start)) = o.href {
                self.close_link(&href, start);
            }
            if o.name == "math" {
                self.end_math();
            } else if o.name == "annotation" {
                if let Some(m) = self.math.as_mut() {
                    m.in_tex = false;
                }
            }
            if o.table {
                self.end_table();
            } else if o.name == "tr" {
                self.end_row();
            } else if BLOCK_TAGS.contains(&o.name.as_str())
                || matches!(o.name.as_str(), "td" | "th")
            {
                self.flush();
            }
        }
    }

    /// `[text](href)` around the link text written since `start` (if the block is the same).
    fn close_link(&mut self, href: &str, start: usize) {
        let t = &mut self.cur.text;
        if start > t.len() || !t.is_char_boundary(start) {
            return;
        }
        let lead = t[start..].len() - t[start..].trim_start().len();
        if t[start..].trim().is_empty() {
            return;
        }
        t.insert(start + lead, '[');
        t.push_str(&format!("]({href})"));
    }

    fn end_math(&mut self) {
        let Some(m) = self.math.take() else { return };
        let tex = m.tex.trim();
        let body = if !tex.is_empty() {
            tex.to_string()
        } else if let Some(a) = m.alt.filter(|a| !a.trim().is_empty()) {
            a.trim().to_string()
        } else {
            m.text.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        self.push_math(&body, m.display);
    }

    fn push_math(&mut self, tex: &str, display: bool) {
        if tex.is_empty() {
            return;
        }
        if !display {
            self.cur.push_collapsed(&format!("${tex}$"), false);
            return;
        }
        let kind = self.cur.kind;
        self.flush();
        self.cur.kind = Kind::Math;
        self.cur.push_collapsed(&format!("$${tex}$$"), false);
        self.flush();
        self.cur.kind = kind;
    }

    fn text(&mut self, raw: &str) {
        if self.in_title {
            let t = decode_entities(raw);
            let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if !t.is_empty() {
                self.title = Some(t);
            }
            return;
        }
        if let Some(display) = self.tex_script {
            let tex = raw.trim().to_string();
            if self.skip == 0 {
                self.push_math(&tex, display);
            }
            return;
        }
        let top_raw = self
            .stack
            .last()
            .is_some_and(|o| matches!(o.name.as_str(), "script" | "style"));
        if top_raw {
            return;
        }
        let t = decode_entities(raw);
        self.visible += t.chars().filter(|c| !c.is_whitespace()).count();
        if self.skip > 0 {
            return;
        }
        if let Some(m) = self.math.as_mut() {
            if m.in_tex {
                m.tex.push_str(&t);
            } else {
                m.text.push_str(&t);
                m.text.push(' ');
            }
            return;
        }
        if self.pre > 0 {
            self.cur.push_verbatim(&t);
        } else {
            self.cur.push_collapsed(&t, self.link > 0);
        }
    }
}

/// Content, boilerplate, or in doubt (decided by the neighbours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Good,
    Bad,
    Short,
    Near,
    /// An information line: dropped, and passed over when judging its neighbours.
    Info,
}

/// Labels of an article's information line ("来源：本站 2026-12-01 阅读：1024",
/// "Published: 3 May | Views: 120"), each followed by a colon.
const INFO_LABELS: [&str; 21] = [
    "来源",
    "作者",
    "时间",
    "发布时间",
    "发表时间",
    "日期",
    "阅读",
    "浏览",
    "点击",
    "编辑",
    "责任编辑",
    "posted",
    "published",
    "updated",
    "author",
    "date",
    "source",
    "views",
    "by",
    "comments",
    "reads",
];

/// A short paragraph made of two or more "label: value" pairs is an information line, not
/// text: a single label ("作者：李白" above a poem) is kept.
fn info_line(b: &Block) -> bool {
    if b.kind != Kind::Para || b.text.chars().count() > 100 {
        return false;
    }
    let lower = b.text.to_lowercase();
    // Colons that follow a label ("发布时间：" holds two labels and one colon).
    let mut colons: Vec<usize> = INFO_LABELS
        .iter()
        .flat_map(|l| lower.match_indices(*l).map(move |(i, _)| (i, l.len())))
        .filter(|&(i, len)| {
            let starts_word = lower[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() || is_cjk(c));
            let after = &lower[i + len..];
            starts_word && (after.starts_with(':') || after.starts_with('：'))
        })
        .map(|(i, len)| i + len)
        .collect();
    colons.sort_unstable();
    colons.dedup();
    colons.len() >= 2
}

fn classify(blocks: &[Block], favour: Favour) -> Vec<bool> {
    let (good_len, max_links): (usize, f64) = match favour {
        Favour::Precision => (150, 0.3),
        Favour::Balanced => (80, 0.5),
        Favour::Recall => (40, 0.65),
    };
    let class: Vec<Class> = blocks
        .iter()
        .map(|b| {
            let links = b.link_weight as f64 / b.weight.max(1) as f64;
            // A data table often links one column (package or item names); a navigation
            // table links nearly every cell.
            let max = match b.kind {
                Kind::Table => max_links.max(0.8),
                _ => max_links,
            };
            if links > max {
                Class::Bad
            } else if favour != Favour::Recall && info_line(b) {
                Class::Info
            } else if matches!(b.kind, Kind::Pre | Kind::Table | Kind::Math) || b.weight >= good_len
            {
                Class::Good
            } else if b.weight < 25 || b.kind == Kind::Heading {
                Class::Short
            } else {
                Class::Near
            }
        })
        .collect();
    if !class.contains(&Class::Good) {
        // Nothing long: a short page keeps what is not link lists.
        return class.iter().map(|c| *c != Class::Bad).collect();
    }
    // The nearest block on each side that is not short: is it content?
    let side = |range: &mut dyn Iterator<Item = usize>| -> bool {
        for j in range {
            match class[j] {
                // A heading stands next to the content it heads.
                Class::Short if blocks[j].kind == Kind::Heading => return true,
                Class::Short | Class::Info => continue,
                c => return c == Class::Good || c == Class::Near,
            }
        }
        false
    };
    let good_side = |range: &mut dyn Iterator<Item = usize>| -> bool {
        for j in range {
            match class[j] {
                Class::Short | Class::Near | Class::Info => continue,
                c => return c == Class::Good,
            }
        }
        false
    };
    (0..blocks.len())
        .map(|i| match class[i] {
            Class::Good => true,
            Class::Bad | Class::Info => false,
            Class::Near => good_side(&mut (0..i).rev()) || good_side(&mut (i + 1..blocks.len())),
            Class::Short => {
                let (before, after) = (side(&mut (0..i).rev()), side(&mut (i + 1..blocks.len())));
                match (blocks[i].kind, favour) {
                    (Kind::Heading, _) => after,
                    (_, Favour::Recall) => before || after,
                    _ => before && after,
                }
            }
        })
        .collect()
}

/// The main content of `html`.
pub fn extract(html: &str, opts: &Options) -> Extracted {
    let mut w = Walker {
        opts,
        stack: Vec::new(),
        skip: 0,
        pre: 0,
        main: 0,
        link: 0,
        cur: Cur::new(),
        blocks: Vec::new(),
        table: None,
        math: None,
        tex_script: None,
        in_title: false,
        title: None,
        lang: None,
        visible: 0,
    };
    for t in Tokenizer::new(html) {
        match t {
            Token::Start { name, attrs } => w.start(name, attrs),
            Token::End { name } => w.end(&name),
            Token::Text(s) => w.text(s),
        }
    }
    w.close_to(0);
    w.end_table();
    w.flush();
    let keep = classify(&w.blocks, opts.favour);
    // When the page marks its article and most content is in it, only that counts.
    let (inside, all) = w
        .blocks
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .fold((0, 0), |(i, a), (b, _)| {
            (i + if b.in_main { b.weight } else { 0 }, a + b.weight)
        });
    let only_main = inside * 10 >= all * 6 && inside > 0;
    let mut text = String::new();
    let mut prev: Option<Kind> = None;
    let mut kept_chars = 0usize;
    for (b, k) in w.blocks.iter().zip(&keep) {
        if !*k || (only_main && !b.in_main) {
            continue;
        }
        if let Some(p) = prev {
            text.push_str(if p == Kind::Item && b.kind == Kind::Item {
                "\n"
            } else {
                "\n\n"
            });
        }
        text.push_str(&b.text);
        kept_chars += b.text.chars().filter(|c| !c.is_whitespace()).count();
        prev = Some(b.kind);
    }
    Extracted {
        text,
        title: w.title,
        lang: w.lang,
        kept: if w.visible == 0 {
            0.0
        } else {
            (kept_chars as f32 / w.visible as f32).min(1.0)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            links: false,
            images: false,
            comments: false,
            favour: Favour::Balanced,
        }
    }

    const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><title>Sorting in Rust &mdash; a guide</title>
<style>body { color: red }</style><script>var x = "<p>not text</p>";</script></head>
<body>
<div id="cookie-banner">We use cookies to improve your experience. <a href="/ok">Accept all</a></div>
<header class="site-header"><a href="/">Home</a> <a href="/blog">Blog</a> <a href="/about">About</a></header>
<nav class="menu"><ul><li><a href="/a">Articles</a></li><li><a href="/t">Tutorials</a></li></ul></nav>
<div class="layout">
<article>
<h1>Sorting a vector</h1>
<p class="byline">By Ana Lima, 2 December 2026</p>
<p>Rust's standard library sorts slices in place. The method
<code>sort_unstable</code> is usually the fastest choice when the order of equal elements
does not matter, and it allocates nothing.</p>
<pre><code>fn main() {
    let mut v = vec![3, 1, 2];
    v.sort();
        // indented comment
    println!("{:?}", v);
}</code></pre>
<p>The cost of sorting is <math display="inline" alttext="n log n"><semantics><mrow><mi>n</mi><mi>log</mi><mi>n</mi></mrow><annotation encoding="application/x-tex">O(n \log n)</annotation></semantics></math> comparisons in the worst case, for both methods.</p>
<table><tr><th>method</th><th>stable</th></tr><tr><td>sort</td><td>yes</td></tr><tr><td>sort_unstable</td><td>no</td></tr></table>
<p>床前明月光，疑是地上霜。<br>举头望明月，低头思故乡。</p>
<p>这是一个中文段落，源代码里有
换行，但是提取的时候不应该在汉字之间加空格。这一段足够长，可以算作正文内容。</p>
<div class="share-buttons"><a href="https://twitter.com/x">Share on Twitter</a> <a href="https://fb.com/x">Share on Facebook</a></div>
</article>
<aside class="sidebar"><h3>Popular posts</h3><ul><li><a href="/1">Ten tricks for faster builds you must know</a></li></ul></aside>
</div>
<section id="comments"><h2>3 comments</h2><p>Great post, thanks! I learned a lot from it and will share it with my whole team.</p></section>
<footer>Copyright &copy; 2026 Example Inc. All rights reserved. <a href="/privacy">Privacy</a></footer>
</body></html>"#;

    #[test]
    fn keeps_the_article_with_code_math_tables_poetry_and_cjk() {
        let e = extract(PAGE, &opts());
        let t = &e.text;
        assert_eq!(e.title.as_deref(), Some("Sorting in Rust — a guide"));
        assert_eq!(e.lang.as_deref(), Some("en"));
        assert!(t.starts_with("Sorting a vector\n\nRust's standard library sorts slices in place. The method sort_unstable is usually"), "{t}");
        let code = "fn main() {\n    let mut v = vec![3, 1, 2];\n    v.sort();\n        // indented comment\n    println!(\"{:?}\", v);\n}";
        assert!(
            t.contains(&format!("\n\n{code}\n\n")),
            "the code block as written:\n{t}"
        );
        assert!(
            t.contains("The cost of sorting is $O(n \\log n)$ comparisons"),
            "{t}"
        );
        assert!(
            t.contains("method | stable\nsort | yes\nsort_unstable | no"),
            "{t}"
        );
        assert!(
            t.contains("床前明月光，疑是地上霜。\n举头望明月，低头思故乡。"),
            "{t}"
        );
        assert!(t.contains("源代码里有换行，但是提取的时候"), "{t}");
        for boiler in [
            "cookies",
            "Home",
            "Articles",
            "Share on",
            "Popular",
            "Great post",
            "Copyright",
            "Ana Lima",
            "not text",
            "color",
        ] {
            assert!(!t.contains(boiler), "{boiler} left in:\n{t}");
        }
        assert!(e.kept > 0.4 && e.kept < 1.0, "{}", e.kept);
    }

    #[test]
    fn information_lines_go_single_labels_stay() {
        let body = "<p>这是一个很长的中文段落，讲的是如何挂载磁盘映像文件，使用循环设备的方法，以及卸载时需要注意的事项和常见的错误。</p>".repeat(3);
        let page = format!(
            "<html><body><article><h1>挂载磁盘映像</h1><div class=\"info\">来源：本站 发布时间：2026-12-01 阅读：1024</div>\
             <p>作者：李白</p>{body}<p>Published: 3 May 2026 | Views: 120</p></article></body></html>"
        );
        let t = extract(&page, &opts()).text;
        assert!(!t.contains("来源"), "{t}");
        assert!(!t.contains("Views"), "{t}");
        assert!(t.starts_with("挂载磁盘映像\n\n作者：李白\n\n"), "{t}");
        let e = extract(
            &page,
            &Options {
                favour: Favour::Recall,
                ..opts()
            },
        );
        assert!(e.text.contains("来源：本站"), "recall keeps it: {}", e.text);
    }

    #[test]
    fn comments_and_images_on_request() {
        let page = PAGE.replace(
            "<h1>Sorting a vector</h1>",
            "<h1>Sorting a vector</h1><img src=a.png alt=\"A chart of sort times\">",
        );
        let e = extract(
            &page,
            &Options {
                links: false,
                images: true,
                comments: true,
                favour: Favour::Balanced,
            },
        );
        assert!(e.text.contains("A chart of sort times"), "{}", e.text);
        assert!(
            !e.text.contains("Great post"),
            "comments sit outside the article"
        );
        let no_article = page
            .replace("<article>", "<div>")
            .replace("</article>", "</div>");
        let e = extract(
            &no_article,
            &Options {
                links: false,
                images: false,
                comments: true,
                favour: Favour::Balanced,
            },
        );
        assert!(e.text.contains("Great post"), "{}", e.text);
        let e = extract(&no_article, &opts());
        assert!(!e.text.contains("Great post"), "{}", e.text);
    }

    #[test]
    fn links_on_request() {
        let page = "<p>Read <a href=\"https://e.org/guide\"> the guide </a> and the <a href=\"#faq\">FAQ</a> \
                    before you start, since it answers most of the questions people ask.</p>";
        let with = Options {
            links: true,
            ..opts()
        };
        assert_eq!(
            extract(page, &with).text,
            "Read [the guide](https://e.org/guide) and the FAQ before you start, since it answers most of the questions people ask."
        );
        assert!(extract(page, &opts())
            .text
            .starts_with("Read the guide and the FAQ before"));
    }

    #[test]
    fn mathjax_and_katex_sources() {
        let page = r#"<p>Euler: <script type="math/tex">e^{i\pi} + 1 = 0</script> holds, and so does
            <span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>a</mi></mrow><annotation encoding="application/x-tex">a^2+b^2=c^2</annotation></semantics></math></span><span class="katex-html" aria-hidden="true">a2+b2=c2</span></span>
            for right triangles, which is a well known result in elementary geometry.</p>
            <script type="math/tex; mode=display">\int_0^1 x\,dx</script>"#;
        let t = extract(page, &opts()).text;
        assert!(
            t.contains("Euler: $e^{i\\pi} + 1 = 0$ holds, and so does $a^2+b^2=c^2$ for right"),
            "{t}"
        );
        assert!(t.contains("$$\\int_0^1 x\\,dx$$"), "{t}");
        assert!(!t.contains("a2+b2"), "{t}");
    }

    #[test]
    fn a_short_page_keeps_its_text_and_link_lists_go() {
        let e = extract("<html><body><p>Hello world.</p></body></html>", &opts());
        assert_eq!(e.text, "Hello world.");
        let page = "<body><ul><li><a href=1>One link</a></li><li><a href=2>Two link</a></li></ul>\
                    <p>A real paragraph of text that is long enough to count as the content of the page, with words.</p></body>";
        assert_eq!(extract(page, &opts()).text, "A real paragraph of text that is long enough to count as the content of the page, with words.");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let n = 200_000;
        let page = format!(
            "{}<p>deep text inside many divs, long enough to be a paragraph of content here.</p>{}",
            "<div>".repeat(n),
            "</div>".repeat(n)
        );
        let e = extract(&page, &opts());
        assert!(e.text.contains("deep text inside many divs"), "{}", e.text);
    }

    proptest::proptest! {
        #[test]
        fn any_markup_extracts_without_panic(s in "(<(/?)(p|div|pre|table|tr|td|math|annotation|script|br|li|ul|a|nav|code|h1)( class=\"(menu|x)\")?>|[a-z 中文\n&;<>]{0,12}){0,60}") {
            let _ = extract(&s, &opts());
        }
    }
}

#[cfg(test)]
mod real_pages {
    use super::*;

    /// The text of each `<pre>` block of a page, as a browser shows it.
    fn pre_blocks(html: &str) -> Vec<String> {
        let mut out = vec![];
        let mut rest = html;
        while let Some(i) = rest.find("<pre") {
            let body = &rest[i..];
            let end = body.find("</pre>").unwrap();
            let inner = &body[body.find('>').unwrap() + 1..end];
            let mut text = String::new();
            let mut in_tag = false;
            for c in inner.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            let text = decode_entities(&text)
                .trim_end()
                .trim_start_matches('\n')
                .to_string();
            out.push(text);
            rest = &body[end..];
        }
        out
    }

    /// An mdBook page (sidebar, menu bar, search, theme picker, page navigation): the
    /// article's paragraphs and every code block as written; none of the chrome.
    #[test]
    fn an_mdbook_page() {
        let html = include_str!("../../data/html/rustdoc-what-is-rustdoc.html");
        let e = extract(
            html,
            &Options {
                links: false,
                images: false,
                comments: false,
                favour: Favour::Balanced,
            },
        );
        let t = &e.text;
        assert_eq!(
            e.title.as_deref(),
            Some("What is rustdoc? - The rustdoc book")
        );
        assert!(t.starts_with("What is rustdoc?\n\nThe standard Rust distribution ships with a tool called rustdoc."), "{t}");
        assert!(t.ends_with("how to use them."), "{t}");
        let blocks = pre_blocks(html);
        assert_eq!(blocks.len(), 12);
        for b in &blocks {
            assert!(
                t.contains(&format!("\n\n{b}\n\n")) || t.ends_with(&format!("\n\n{b}")),
                "code block lost or changed:\n{b}\n---\n{t}"
            );
        }
        for chrome in [
            "Toggle Table of Contents",
            "Search this book",
            "Change theme",
            "Next chapter",
            "Press",
            "Print this book",
        ] {
            assert!(!t.contains(chrome), "{chrome}");
        }
    }
}

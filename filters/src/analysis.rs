//! Per-document analysis shared by the quality stages. gopher_quality, gopher_repetition and
//! fineweb_quality each need the same word split ([`crate::words::words`]) of a document,
//! and whether it is CJK text ([`is_cjk_text`]); [`analyse`] computes both once and hands
//! them to every stage that asks for the same text, until a stage rewrites the text (a new
//! text is a new key). [`is_cjk_doc`] asks for the flag alone (fineweb_quality needs it
//! before it knows whether it needs the words); a cached document holds whichever parts were
//! asked for.
//!
//! Stages reach it through an [`Analyser`]: the stages of one pipeline that analyse count
//! themselves in its [`StageEnv`], and with only one of them no text is asked for twice, so
//! nothing is cached (the copy of each text and its spans were 4% of gopher_repetition alone).
//!
//! A thread's cache holds the documents it split lately: two generations of at most
//! [`GENERATION_BYTES`] of text each (a whole default 4 MB batch fits, so every stage of a
//! batch finds its documents); with the word spans (8 bytes a word) that is about 30 MB per
//! worker thread, up to ~45 MB for CJK text (a word per character). A document longer than a
//! generation is not cached (each stage splits it again), so memory stays flat in document
//! size. A hit is compared byte for byte with the stored text, so it is the split of exactly
//! this text: the stages' verdicts are those of splitting again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pipeline::StageEnv;

use xxhash_rust::xxh3::xxh3_64;

use crate::text::is_cjk_text;
use crate::words::words;

/// Text bytes a generation holds before the older one is dropped.
pub const GENERATION_BYTES: usize = 6 << 20;
/// Shorter texts are split again: cheaper than the lookup.
const MIN_CACHED: usize = 512;

/// A cached document: its text, and whichever of its analyses a stage has asked for.
struct Entry {
    text: Box<str>,
    spans: Option<Vec<(u32, u32)>>,
    cjk: Option<bool>,
}

#[derive(Default)]
struct Cache {
    cur: HashMap<u64, Entry>,
    prev: HashMap<u64, Entry>,
    cur_bytes: usize,
}

impl Cache {
    /// The entry of exactly `text` (compared byte for byte), a new empty one if none.
    fn entry(&mut self, key: u64, text: &str) -> &mut Entry {
        let holds = |m: &HashMap<u64, Entry>| m.get(&key).is_some_and(|e| &*e.text == text);
        if holds(&self.cur) {
            return self.cur.get_mut(&key).expect("found above");
        }
        if holds(&self.prev) {
            return self.prev.get_mut(&key).expect("found above");
        }
        if self.cur_bytes + text.len() > GENERATION_BYTES {
            self.prev = std::mem::take(&mut self.cur);
            self.cur_bytes = 0;
        }
        self.cur_bytes += text.len();
        let entry = Entry {
            text: text.into(),
            spans: None,
            cjk: None,
        };
        self.cur.insert(key, entry);
        self.cur.get_mut(&key).expect("inserted above")
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

/// `f` on the cache entry of `text`; `None` for a text not cached (shorter texts are cheaper
/// to analyse again than to look up, longer ones would not fit a generation).
fn with_entry<R>(text: &str, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
    if text.len() < MIN_CACHED || text.len() > GENERATION_BYTES {
        return None;
    }
    let key = xxh3_64(text.as_bytes());
    Some(CACHE.with(|c| f(c.borrow_mut().entry(key, text))))
}

/// What the quality stages read off a document's text.
#[derive(Debug, PartialEq)]
pub struct Analysis<'a> {
    /// What [`words`] returns.
    pub words: Vec<&'a str>,
    /// What [`is_cjk_text`] returns.
    pub cjk: bool,
}

/// The analysis of `text`, computed once per document per thread.
pub(crate) fn analyse(text: &str) -> Analysis<'_> {
    let cached = with_entry(text, |e| Analysis {
        cjk: *e.cjk.get_or_insert_with(|| is_cjk_text(text)),
        words: match &e.spans {
            Some(spans) => spans
                .iter()
                .map(|&(s, e)| &text[s as usize..e as usize])
                .collect(),
            None => {
                let w = words(text);
                e.spans = Some(spans_of(text, &w));
                w
            }
        },
    });
    cached.unwrap_or_else(|| computed(text))
}

/// The analysis of `text`, computed afresh.
fn computed(text: &str) -> Analysis<'_> {
    Analysis {
        words: words(text),
        cjk: is_cjk_text(text),
    }
}

/// Whether `text` is CJK text ([`analyse`]'s `cjk`), without splitting it into words.
pub(crate) fn is_cjk_doc(text: &str) -> bool {
    with_entry(text, |e| *e.cjk.get_or_insert_with(|| is_cjk_text(text)))
        .unwrap_or_else(|| is_cjk_text(text))
}

/// How many stages of one pipeline analyse its documents ([`StageEnv::shared`]).
#[derive(Default)]
struct Analysers(AtomicUsize);

/// A stage's way to its documents' analysis: through the thread's cache when another stage
/// of its pipeline analyses them too (or when it was built outside a pipeline), else
/// computed afresh. Either way the same values: only the time differs.
#[derive(Clone)]
pub struct Analyser(Option<Arc<Analysers>>);

impl Analyser {
    /// For a stage built alone (tests, library use): caches, as another stage may ask.
    pub fn standalone() -> Self {
        Analyser(None)
    }

    /// For one more analysing stage of the pipeline `env` builds.
    pub fn register(env: &StageEnv) -> Self {
        let users = env.shared::<Analysers>();
        users.0.fetch_add(1, Ordering::Relaxed);
        Analyser(Some(users))
    }

    /// How many stages of the pipeline analyse (none: built alone).
    #[cfg(test)]
    pub(crate) fn stages(&self) -> Option<usize> {
        self.0.as_ref().map(|u| u.0.load(Ordering::Relaxed))
    }

    /// Whether the cache is used: every stage is built before the first document.
    fn cached(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|u| u.0.load(Ordering::Relaxed) > 1)
    }

    /// [`analyse`].
    pub fn analyse<'a>(&self, text: &'a str) -> Analysis<'a> {
        match self.cached() {
            true => analyse(text),
            false => computed(text),
        }
    }

    /// [`analyse`]'s words alone.
    pub fn words<'a>(&self, text: &'a str) -> Vec<&'a str> {
        match self.cached() {
            true => analyse(text).words,
            false => words(text),
        }
    }

    /// [`is_cjk_doc`].
    pub fn is_cjk(&self, text: &str) -> bool {
        match self.cached() {
            true => is_cjk_doc(text),
            false => is_cjk_text(text),
        }
    }
}

/// The byte spans of `words`, slices of `text`.
fn spans_of(text: &str, words: &[&str]) -> Vec<(u32, u32)> {
    let base = text.as_ptr() as usize;
    let span = |s: &&str| {
        let at = s.as_ptr() as usize - base;
        (at as u32, (at + s.len()) as u32)
    };
    words.iter().map(span).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fresh(t: &str) -> Analysis<'_> {
        Analysis {
            words: words(t),
            cjk: is_cjk_text(t),
        }
    }

    fn long(s: &str) -> String {
        s.repeat(MIN_CACHED / s.len().max(1) + 1)
    }

    /// A cached split is the split of exactly the text asked about: texts that differ in
    /// one byte, or share a prefix, get their own.
    #[test]
    fn hits_are_the_same_text_only() {
        let a = long("Don't stop, it's 300m away... 山水 ");
        let mut b = a.clone();
        b.push('x');
        let same_len = a.replacen("stop,", "stop ", 1);
        for t in [&a, &b, &a, &same_len, &a[..a.len() - 1].to_string(), &b] {
            assert_eq!(analyse(t), fresh(t));
        }
        // Enough other text to rotate both generations out: still right.
        for k in 0..(2 * GENERATION_BYTES / a.len() + 2) {
            let t = format!("{a}{k}");
            assert_eq!(analyse(&t), fresh(&t));
        }
        assert_eq!(analyse(&a), fresh(&a));
    }

    /// Whether the thread's cache holds exactly `text`.
    fn holds(text: &str) -> bool {
        let key = xxh3_64(text.as_bytes());
        CACHE.with(|c| {
            let c = c.borrow();
            [&c.cur, &c.prev]
                .iter()
                .any(|m| m.get(&key).is_some_and(|e| &*e.text == text))
        })
    }

    /// A pipeline's only analysing stage caches nothing; with a second one (or built alone)
    /// the analyses are cached. The values are the same either way.
    #[test]
    fn only_pipelines_of_two_analysing_stages_cache() {
        let env = pipeline::StageEnv::new(".");
        let one = Analyser::register(&env);
        let t = long("Uncached: one analysing stage, 山水 ");
        assert_eq!(one.analyse(&t), fresh(&t));
        assert_eq!(one.words(&t), words(&t));
        assert_eq!(one.is_cjk(&t), is_cjk_text(&t));
        assert!(!holds(&t));
        let two = Analyser::register(&env);
        assert_eq!(two.stages(), Some(2));
        assert_eq!(one.analyse(&t), fresh(&t));
        assert!(holds(&t));
        let alone = long("Cached: built outside a pipeline ");
        assert_eq!(Analyser::standalone().words(&alone), words(&alone));
        assert!(holds(&alone));
        let other = Analyser::register(&pipeline::StageEnv::new("."));
        assert_eq!(other.stages(), Some(1));
    }

    proptest! {
        #[test]
        fn cached_split_equals_a_fresh_one(s in "[a-z '.,\\n山水-]{0,40}", n in 1usize..60) {
            let t = s.repeat(n);
            // Asked for the flag first (an entry without words), then for both, twice.
            prop_assert_eq!(is_cjk_doc(&t), is_cjk_text(&t));
            prop_assert_eq!(analyse(&t), fresh(&t));
            prop_assert_eq!(analyse(&t), fresh(&t));
            prop_assert_eq!(is_cjk_doc(&t), is_cjk_text(&t));
        }
    }
}

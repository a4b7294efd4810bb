//! Quality rule sets, each a [`RowStage`]: keep a document, keep a rewritten text (C4 drops
//! lines), or drop it with a reason code that starts with the stage type, such as
//! `gopher_quality.stop_words`. (Before 2026-11-28 the codes were `gopher.*`, `c4.*` and
//! `fineweb.*`; see docs/GUIDE.md.)

mod c4_quality;
mod fineweb_quality;
mod gopher_quality;
mod gopher_repetition;

pub use c4_quality::C4Quality;
pub use fineweb_quality::FineWebQuality;
pub use gopher_quality::GopherQuality;
pub use gopher_repetition::GopherRepetition;

use pipeline::stage::parse_stage_table;
use pipeline::{RowAdapter, RowStage, StageEnv, StageInfo, StageKind, StageRegistry};
use serde::de::DeserializeOwned;

use crate::analysis::Analyser;

fn build<C, R>(
    table: toml::Table,
    make: impl FnOnce(C) -> Result<R, String>,
) -> Result<StageKind, String>
where
    C: DeserializeOwned,
    R: RowStage + 'static,
{
    let c: C = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(make(c)?))))
}

/// A rule set that reads the per-document analysis shared by the stages of a pipeline.
trait Analysing {
    fn analyser(&mut self) -> &mut Analyser;
}

/// [`build`] for an [`Analysing`] stage: counted among its pipeline's analysing stages.
fn build_analysing<C, R>(
    table: toml::Table,
    env: &StageEnv,
    make: fn(C) -> Result<R, String>,
) -> Result<StageKind, String>
where
    C: DeserializeOwned,
    R: RowStage + Analysing + 'static,
{
    build(table, |c| {
        let mut stage = make(c)?;
        *stage.analyser() = Analyser::register(env);
        Ok(stage)
    })
}

pub(crate) fn register(r: &mut StageRegistry) {
    r.register(StageInfo {
        type_name: "gopher_quality",
        summary: "Gopher quality rules with datatrove's defaults; English-only rules skipped \
                  on CJK text",
        outputs: "gopher_quality.short_doc, .long_doc, .stop_words, .below_avg_word_length, \
                  .above_avg_word_length, .below_alpha_threshold, .too_many_hashes, \
                  .too_many_ellipsis, .too_many_bullets, .too_many_end_ellipsis",
        factory: |t, env: &StageEnv| build_analysing(t, env, GopherQuality::new),
    });
    r.register(StageInfo {
        type_name: "gopher_repetition",
        summary: "Gopher repetition rules; n-grams counted per character on CJK text",
        outputs: "gopher_repetition.dup_line_frac, .dup_para_frac, .dup_line_char_frac, \
                  .dup_para_char_frac, .top_N_gram, .duplicated_N_gram, .empty",
        factory: |t, env: &StageEnv| build_analysing(t, env, GopherRepetition::new),
    });
    r.register(StageInfo {
        type_name: "c4_quality",
        summary: "C4 line and document rules; rewrites the text without the dropped lines",
        outputs: "c4_quality.too_few_sentences, .curly_bracket, .lorem_ipsum",
        factory: |t, _: &StageEnv| build(t, C4Quality::new),
    });
    r.register(StageInfo {
        type_name: "fineweb_quality",
        summary: "FineWeb's line-punctuation, short-line, duplicate-line and list rules",
        outputs: "fineweb_quality.line_punct_ratio, .short_line_ratio, .char_dup_ratio, \
                  .list_ratio, .empty",
        factory: |t, env: &StageEnv| build_analysing(t, env, FineWebQuality::new),
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
pub(crate) fn find_duplicates<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> (usize, usize) {
    // Each item is hashed once with xxh3 (not SipHash: only counts come out, and paragraphs
    // can be long), and the set hashes that hash no further. Sized once: growing it
    // rehashed every item.
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(
        items.len(),
        std::hash::BuildHasherDefault::<PassHasher>::default(),
    );
    let (mut n, mut chars) = (0, 0);
    for it in items {
        if !seen.insert(Hashed(xxhash_rust::xxh3::xxh3_64(it.as_bytes()), it)) {
            n += 1;
            chars += crate::text::char_len(it);
        }
    }
    (n, chars)
}

/// A string with its hash: equal when the strings are (the hash only picks the bucket).
#[derive(PartialEq, Eq)]
struct Hashed<'a>(u64, &'a str);

impl std::hash::Hash for Hashed<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The hasher of [`Hashed`]: its hash, already well mixed, as it is.
#[derive(Default)]
struct PassHasher(u64);

impl std::hash::Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is called by `Hashed`; anything else is folded in all the same.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 ^= x;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule sets that read the shared analysis count themselves in their pipeline when
    /// the registry builds them; the others do not.
    #[test]
    fn the_registry_counts_a_pipelines_analysing_stages() {
        let mut r = StageRegistry::default();
        register(&mut r);
        let env = StageEnv::new(".");
        for name in [
            "gopher_quality",
            "c4_quality",
            "gopher_repetition",
            "fineweb_quality",
        ] {
            let mut t = toml::Table::new();
            t.insert("type".into(), name.into());
            assert!(r.build(t, &env).is_ok(), "{name}");
        }
        let stages = Analyser::register(&env).stages();
        assert_eq!(stages, Some(4), "three analysing stages and this one");
    }
}

//! Document filters as pipeline stages: quality rules (Gopher quality, Gopher repetition,
//! C4, FineWeb) with the peers' published thresholds as defaults, CJK-aware so Chinese text
//! is judged by rules that fit it.
//!
//! Still to come (issue 3): cleaning, language ID, domain labelling and the trainable
//! classifier, sensitive-content and PII filtering.

pub mod classifier;
pub mod clean;
pub mod domain;
pub mod lang;
pub mod phrases;
pub mod pii;
pub mod quality;
pub mod sensitive;
pub mod text;
pub mod words;

use pipeline::StageRegistry;

/// Adds this crate's stages to `registry`.
pub fn register(registry: &mut StageRegistry) {
    registry.register("clean", clean::build);
    registry.register("language", lang::build);
    registry.register("pii", pii::build);
    registry.register("sensitive_words", sensitive::build);
    registry.register("domain_keywords", domain::build);
    registry.register("classifier", classifier::build);
    quality::register(registry);
}

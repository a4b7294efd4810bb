//! Generic stages that belong to no particular concern; the real filters live in the
//! `filters` and `dedup` crates.

mod length;

pub use length::LengthFilter;

use crate::stage::{StageInfo, StageRegistry};

pub(crate) fn register(r: &mut StageRegistry) {
    r.register(StageInfo {
        type_name: "length",
        summary: "min_chars / max_chars (characters, not bytes)",
        outputs: "length.too_short, length.too_long",
        factory: length::build,
    });
}

#[cfg(test)]
mod tests {
    /// The generic stages describe themselves and build from their defaults.
    #[test]
    fn every_stage_type_builds_from_defaults_and_has_its_name() {
        let r = crate::StageRegistry::with_builtins();
        assert_eq!(crate::testing::check_stage_types(&r, &[]), 1);
    }
}

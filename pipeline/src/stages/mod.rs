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

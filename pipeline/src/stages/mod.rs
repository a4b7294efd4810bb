//! Generic stages that belong to no particular concern; the real filters live in the
//! `filters` and `dedup` crates.

mod length;

pub use length::LengthFilter;

use crate::stage::StageRegistry;

pub(crate) fn register(r: &mut StageRegistry) {
    r.register("length", length::build);
}

//! Document filters: cleaning, quality rules (Gopher, C4, FineWeb), language ID, domain
//! labelling and sensitive-content/PII handling, each a pipeline `Stage`, zh and en alike.
//!
//! Not built yet (issue 3): this crate registers no stages so far.

use pipeline::StageRegistry;

/// Adds this crate's stages to `registry` (none yet).
pub fn register(_registry: &mut StageRegistry) {}

//! Benchmark decontamination. `sluice decont index` builds an exact index of evaluation
//! sets' normalised n-grams ([`index`], from [`eval_files`] through [`normalize`]); the
//! `decontaminate` stage ([`stage`]) drops, or cuts the overlapping spans out of, training
//! documents that share an n-gram with an evaluation item, naming the benchmark, the item
//! and the n-gram.

pub mod error;
pub mod eval_files;
pub mod index;
pub mod normalize;
pub mod stage;

pub use error::DecontError;
pub use index::{Index, IndexBuilder, ItemRef};

use pipeline::{StageInfo, StageRegistry};

/// Adds this crate's stages to `registry`.
pub fn register(registry: &mut StageRegistry) {
    registry.register(StageInfo {
        type_name: "decontaminate",
        summary: "drops (or cuts spans out of) documents sharing an n-gram with an evaluation \
                  set; index from `sluice decont index`, exact (no false positives)",
        outputs: "decontaminate.overlap, decontaminate.too_little_left; counters \
                  spans_removed, chars_removed",
        factory: stage::build,
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stage_type_describes_itself_and_needs_an_index() {
        let mut r = pipeline::StageRegistry::default();
        super::register(&mut r);
        assert_eq!(
            pipeline::testing::check_stage_types(&r, &["decontaminate"]),
            1
        );
    }
}

//! What the HTML report shows beyond `stats.json`, computed with polars over the run's files:
//! the length distribution of the kept documents per domain, and a few example documents for
//! each reject reason.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::sample::{sample_per_group, Sampled};
use crate::{QueryError, RunTables};

/// Kept documents' lengths (characters) in one domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainLengths {
    pub domain: String,
    pub docs: u64,
    /// Deciles 10, 25, 50, 75, 90 and the extremes.
    pub min: u64,
    pub p10: u64,
    pub p25: u64,
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub max: u64,
}

/// Per domain of the curated output, the distribution of document lengths in characters.
pub fn length_by_domain(run: &RunTables) -> Result<Vec<DomainLengths>, QueryError> {
    let len = || col("text").str().len_chars().cast(DataType::UInt64);
    let q = |p: f64, name: &str| {
        len()
            .quantile(lit(p), QuantileMethod::Nearest)
            .cast(DataType::UInt64)
            .alias(name)
    };
    let df = crate::collect(
        run.table("curated")?
            .group_by([col("domain")])
            .agg([
                len().count().cast(DataType::UInt64).alias("docs"),
                len().min().alias("min"),
                q(0.10, "p10"),
                q(0.25, "p25"),
                q(0.50, "p50"),
                q(0.75, "p75"),
                q(0.90, "p90"),
                len().max().alias("max"),
            ])
            .sort(["domain"], Default::default()),
    )?;
    let u = |name: &str, i: usize| -> u64 {
        df.column(name)
            .ok()
            .and_then(|c| c.u64().ok().and_then(|c| c.get(i)))
            .unwrap_or(0)
    };
    let domains = df
        .column("domain")
        .and_then(|c| c.str())
        .map_err(QueryError::internal)?;
    Ok((0..df.height())
        .map(|i| DomainLengths {
            domain: domains.get(i).unwrap_or("").to_string(),
            docs: u("docs", i),
            min: u("min", i),
            p10: u("p10", i),
            p25: u("p25", i),
            p50: u("p50", i),
            p75: u("p75", i),
            p90: u("p90", i),
            max: u("max", i),
        })
        .collect())
}

/// Up to `n` rejected documents per reason (by seed 0, so a rerun shows the same ones).
pub fn examples_by_reason(
    run: &RunTables,
    n: usize,
    excerpt_chars: usize,
) -> Result<BTreeMap<String, Vec<Sampled>>, QueryError> {
    sample_per_group(run.table("rejected")?, "reason", n, 0, excerpt_chars)
}

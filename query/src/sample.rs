//! Reproducible samples of a run's documents: "show me five documents that
//! `gopher_quality.stop_words` dropped". A document is picked by the hash of its id under the
//! seed (the n smallest win), so the same seed gives the same documents whatever the file
//! order, worker count or machine. Two passes: ids (and the group) first, then only the
//! picked rows' text.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::{QueryError, RunTables};

/// Which documents to sample.
#[derive(Debug, Clone, Default)]
pub struct SampleSpec {
    /// Kept (curated) documents instead of rejected ones.
    pub kept: bool,
    pub reason: Option<String>,
    pub stage: Option<String>,
    pub domain: Option<String>,
    pub n: usize,
    pub seed: u64,
    /// Characters of text shown per document.
    pub excerpt_chars: usize,
}

/// One sampled document.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    pub id: String,
    pub domain: String,
    /// Stage, reason and detail of a rejected document (empty for a kept one).
    pub stage: String,
    pub reason: String,
    pub detail: String,
    /// The text's length in characters, and its first `excerpt_chars` characters.
    pub chars: u64,
    pub excerpt: String,
}

/// The sample, and how many documents matched.
pub fn sample(run: &RunTables, spec: &SampleSpec) -> Result<(Vec<Sampled>, u64), QueryError> {
    let mut lf = run.table(if spec.kept { "curated" } else { "rejected" })?;
    let filters = [
        ("reason", &spec.reason),
        ("stage", &spec.stage),
        ("domain", &spec.domain),
    ];
    for (column, value) in filters {
        if let Some(v) = value {
            if spec.kept && column != "domain" {
                return Err(QueryError::Sql {
                    message: format!("kept documents have no {column}; drop --{column} or --kept"),
                });
            }
            lf = lf.filter(col(column).eq(lit(v.as_str())));
        }
    }
    let (picked, matched) = pick(lf.clone(), None, spec.n, spec.seed)?;
    let rows = fetch(lf, &picked, spec.excerpt_chars, !spec.kept)?;
    Ok((
        in_pick_order(&picked, rows, None).map(|(_, r)| r).collect(),
        matched,
    ))
}

/// Up to `n` documents of each distinct value of `group` (each reason, say) in `lf`, picked
/// by seed, in pick order within each group.
pub fn sample_per_group(
    lf: LazyFrame,
    group: &str,
    n: usize,
    seed: u64,
    excerpt_chars: usize,
) -> Result<BTreeMap<String, Vec<Sampled>>, QueryError> {
    let (picked, _) = pick(lf.clone(), Some(group), n, seed)?;
    let rows = fetch(lf, &picked, excerpt_chars, true)?;
    let mut out: BTreeMap<String, Vec<Sampled>> = BTreeMap::new();
    for (g, r) in in_pick_order(&picked, rows, Some(group)) {
        out.entry(g).or_default().push(r);
    }
    Ok(out)
}

/// The fetched rows in pick order, each with its group; a document that appears twice (the
/// same id rejected in two phases) is shown once per pick.
fn in_pick_order<'a>(
    picked: &'a Picked,
    mut rows: Vec<Sampled>,
    group: Option<&'a str>,
) -> impl Iterator<Item = (String, Sampled)> + 'a {
    picked.iter().filter_map(move |(g, _, id)| {
        let i = rows
            .iter()
            .position(|r| &r.id == id && group.is_none_or(|c| group_value(r, c) == g))?;
        Some((g.clone(), rows.swap_remove(i)))
    })
}

fn group_value<'a>(r: &'a Sampled, group: &str) -> &'a str {
    match group {
        "reason" => &r.reason,
        "stage" => &r.stage,
        "domain" => &r.domain,
        _ => "",
    }
}

/// (group, rank within the group, id) of the picked rows, in order.
type Picked = BTreeSet<(String, usize, String)>;

/// Per group, the `n` ids with the smallest hash under `seed`.
fn pick(
    lf: LazyFrame,
    group: Option<&str>,
    n: usize,
    seed: u64,
) -> Result<(Picked, u64), QueryError> {
    let mut cols = vec![col("id")];
    if let Some(g) = group {
        cols.push(col(g));
    }
    let df = crate::collect(lf.select(cols))?;
    let ids = df
        .column("id")
        .and_then(|c| c.str())
        .map_err(QueryError::internal)?;
    let groups = match group {
        Some(g) => Some(
            df.column(g)
                .and_then(|c| c.str())
                .map_err(QueryError::internal)?,
        ),
        None => None,
    };
    // Per group, the n smallest (key, id) seen so far.
    let mut best: BTreeMap<String, BTreeSet<(u64, String)>> = BTreeMap::new();
    for i in 0..df.height() {
        let id = ids.get(i).unwrap_or("");
        let g = groups.and_then(|g| g.get(i)).unwrap_or("").to_string();
        let set = best.entry(g).or_default();
        set.insert((xxh3_64_with_seed(id.as_bytes(), seed), id.to_string()));
        if set.len() > n {
            set.pop_last();
        }
    }
    let mut picked = Picked::new();
    for (g, set) in best {
        for (rank, (_, id)) in set.into_iter().enumerate() {
            picked.insert((g.clone(), rank, id));
        }
    }
    Ok((picked, df.height() as u64))
}

/// The rows of `lf` whose id was picked.
fn fetch(
    lf: LazyFrame,
    picked: &Picked,
    chars: usize,
    rejected: bool,
) -> Result<Vec<Sampled>, QueryError> {
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = picked.iter().map(|k| k.2.as_str()).collect();
    let ids = Series::new("ids".into(), ids);
    let mut cols = vec![
        col("id"),
        col("domain"),
        col("text").str().len_chars().alias("chars"),
        col("text")
            .str()
            .slice(lit(0), lit(chars as u64))
            .alias("excerpt"),
    ];
    if rejected {
        cols.extend([col("stage"), col("reason"), col("detail")]);
    }
    let df = crate::collect(
        lf.filter(col("id").is_in(lit(ids).implode(false), false))
            .select(cols),
    )?;
    let text = |name: &str, i: usize| -> String {
        df.column(name)
            .ok()
            .and_then(|c| c.str().ok().and_then(|s| s.get(i)).map(str::to_string))
            .unwrap_or_default()
    };
    let chars_col = df.column("chars").and_then(|c| c.cast(&DataType::UInt64));
    let chars_col = chars_col.map_err(QueryError::internal)?;
    let lens = chars_col.u64().map_err(QueryError::internal)?;
    let rows = (0..df.height())
        .map(|i| Sampled {
            id: text("id", i),
            domain: text("domain", i),
            stage: text("stage", i),
            reason: text("reason", i),
            detail: text("detail", i),
            chars: lens.get(i).unwrap_or(0),
            excerpt: text("excerpt", i),
        })
        .collect();
    Ok(rows)
}

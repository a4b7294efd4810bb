//! The tables of a finished run, registered for SQL as polars LazyFrames that scan the files
//! (nothing is loaded until a query needs it, and then streamed where polars can):
//!
//! | table        | rows                                                                   |
//! |--------------|------------------------------------------------------------------------|
//! | `curated`    | kept documents (`curated/*.parquet`), with every column the stages added |
//! | `rejected`   | dropped and quarantined documents with `stage`, `reason`, `detail`      |
//! | `quarantine` | the rejected rows the reader could not read (`stage = 'read'`)          |
//! | `stats`      | one row per stage and reject reason (`stats.json`)                      |
//! | `counters`   | one row per stage and counter (`stats.json`)                            |
//! | `shards`     | one row per packed shard (`manifest.json`; empty without `[tokenize]`)  |

use std::path::{Path, PathBuf};

use pipeline::{OutputLayout, RunStats};
use polars::prelude::*;
use polars::sql::SQLContext;

use crate::QueryError;

/// Every table's name, for error messages.
pub const TABLES: [&str; 6] = [
    "curated",
    "rejected",
    "quarantine",
    "stats",
    "counters",
    "shards",
];

/// The registered tables of one run.
pub struct RunTables {
    /// The run's `stats.json`.
    pub stats: RunStats,
    ctx: SQLContext,
}

impl RunTables {
    /// Opens the finished run in `dir`.
    pub fn open(dir: &Path) -> Result<Self, QueryError> {
        let layout = OutputLayout::new(dir);
        let stats_path = layout.stats();
        if !stats_path.exists() {
            return Err(QueryError::NotARun {
                dir: dir.to_path_buf(),
                message: "no stats.json: not a finished sluice run (a run writes it when it \
                          completes; rerun `sluice run` to finish one)"
                    .into(),
            });
        }
        let stats = RunStats::read(&stats_path).map_err(|e| QueryError::NotARun {
            dir: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let ctx = SQLContext::new();
        let document = pipeline::document::base_schema();
        ctx.register("curated", scan(&layout.curated_dir(), &document)?);
        let rejected = scan(&layout.rejected_dir(), &pipeline::writer::rejected_schema())?;
        ctx.register(
            "quarantine",
            rejected.clone().filter(col("stage").eq(lit("read"))),
        );
        ctx.register("rejected", rejected);
        ctx.register("stats", stats_frame(&stats)?.lazy());
        ctx.register("counters", counters_frame(&stats)?.lazy());
        ctx.register("shards", shards_frame(dir)?.lazy());
        Ok(RunTables { stats, ctx })
    }

    /// The query's result as a LazyFrame (not yet run).
    pub fn query(&self, sql: &str) -> Result<LazyFrame, QueryError> {
        self.ctx.clone().execute(sql).map_err(QueryError::sql)
    }

    /// Runs the query to its result.
    pub fn run(&self, sql: &str) -> Result<DataFrame, QueryError> {
        crate::collect(self.query(sql)?)
    }

    /// A registered table.
    pub fn table(&self, name: &str) -> Result<LazyFrame, QueryError> {
        self.query(&format!("SELECT * FROM {name}"))
    }
}

/// The Parquet files of `dir` in name order as one LazyFrame; an empty frame with the
/// columns of `schema` (the writer's, all text) when there are none (a run that kept or
/// rejected nothing, or `output.rejected = false`).
fn scan(dir: &Path, schema: &arrow::datatypes::Schema) -> Result<LazyFrame, QueryError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(QueryError::io(dir, e)),
    };
    files.sort();
    if files.is_empty() {
        let empty = Schema::from_iter(
            (schema.fields().iter()).map(|f| Field::new(f.name().into(), DataType::String)),
        );
        return Ok(DataFrame::empty_with_schema(&empty).lazy());
    }
    let paths: Vec<PlRefPath> = (files.iter())
        .map(|p| PlRefPath::from(p.to_string_lossy().as_ref()))
        .collect();
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), ScanArgsParquet::default())
        .map_err(|e| QueryError::polars(dir, e))
}

/// One row per stage and reject reason; a stage that rejected nothing has one row with a
/// null reason and 0 rejected. `stage_index` 0 is the reader.
fn stats_frame(stats: &RunStats) -> Result<DataFrame, QueryError> {
    let (mut idx, mut stage, mut reason) = (Vec::new(), Vec::new(), Vec::new());
    let (mut docs_in, mut docs_out, mut bytes_in, mut bytes_out, mut seconds, mut rejected) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (i, s) in stats.stages.iter().enumerate() {
        let reasons: Vec<(Option<&str>, u64)> = match s.rejects.is_empty() {
            true => vec![(None, 0)],
            false => s
                .rejects
                .iter()
                .map(|(r, n)| (Some(r.as_str()), *n))
                .collect(),
        };
        for (r, n) in reasons {
            idx.push(i as u32);
            stage.push(s.name.clone());
            docs_in.push(s.docs_in);
            docs_out.push(s.docs_out);
            bytes_in.push(s.bytes_in);
            bytes_out.push(s.bytes_out);
            seconds.push(s.seconds);
            reason.push(r.map(str::to_string));
            rejected.push(n);
        }
    }
    df!(
        "stage_index" => idx, "stage" => stage, "docs_in" => docs_in, "docs_out" => docs_out,
        "bytes_in" => bytes_in, "bytes_out" => bytes_out, "seconds" => seconds,
        "reason" => reason, "rejected" => rejected
    )
    .map_err(QueryError::internal)
}

fn counters_frame(stats: &RunStats) -> Result<DataFrame, QueryError> {
    let (mut idx, mut stage, mut counter, mut value) = (vec![], vec![], vec![], vec![]);
    for (i, s) in stats.stages.iter().enumerate() {
        for (k, v) in &s.counters {
            idx.push(i as u32);
            stage.push(s.name.clone());
            counter.push(k.clone());
            value.push(*v);
        }
    }
    df!("stage_index" => idx, "stage" => stage, "counter" => counter, "value" => value)
        .map_err(QueryError::internal)
}

/// One row per packed shard of `manifest.json` (none if the run did not tokenize).
fn shards_frame(dir: &Path) -> Result<DataFrame, QueryError> {
    let path = pipeline::OutputLayout::new(dir).manifest();
    let (mut domain, mut shard, mut file, mut rows, mut tokens) =
        (vec![], vec![], vec![], vec![], vec![]);
    if path.exists() {
        let m = tokenize::Manifest::read(&path).map_err(|e| QueryError::NotARun {
            dir: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        for (d, shards) in &m.domains {
            for (i, s) in shards.shards.iter().enumerate() {
                domain.push(d.clone());
                shard.push(i as u32);
                file.push(s.path.clone());
                rows.push(s.rows);
                tokens.push(s.tokens);
            }
        }
    }
    df!("domain" => domain, "shard" => shard, "path" => file, "rows" => rows, "tokens" => tokens)
        .map_err(QueryError::internal)
}

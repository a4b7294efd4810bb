//! `sluice query`, `sample` and `report`, the demo's report and the `sql_filter` stage: looking
//! inside a run with polars (the `query` crate) when the binary is built with the `query`
//! feature (the default), and saying how to get them when built without (scripts/demo.sh
//! builds without: polars is half of a first build's compile time).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use pipeline::StageRegistry;

/// `sluice query RUN SQL`.
#[derive(Args)]
pub struct QueryArgs {
    run: PathBuf,
    sql: String,
    /// table (aligned, for a terminal), csv, json (JSON lines) or parquet.
    #[arg(long, default_value = "table")]
    format: String,
    /// Write the result to this file (whole or not at all) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows shown by --format table (the first and last halves of a longer result).
    #[arg(long, default_value_t = 40)]
    max_rows: usize,
}

/// `sluice sample RUN`.
#[derive(Args)]
pub struct SampleArgs {
    run: PathBuf,
    #[arg(long)]
    reason: Option<String>,
    #[arg(long)]
    stage: Option<String>,
    #[arg(long)]
    domain: Option<String>,
    /// Sample the curated (kept) documents instead of the rejected ones.
    #[arg(long, conflicts_with_all = ["reason", "stage"])]
    kept: bool,
    #[arg(short, default_value_t = 5)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Characters of each document's text to show.
    #[arg(long, default_value_t = 400)]
    chars: usize,
}

/// `sluice report RUN`.
#[derive(Args)]
pub struct ReportArgs {
    run: PathBuf,
    #[arg(long)]
    train: Option<PathBuf>,
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
}

/// Why this binary cannot look inside a run.
#[cfg(not(feature = "query"))]
const MISSING: &str = "this sluice was built without the `query` feature (polars); rebuild with \
     the default features (`cargo build --release`, after `source scripts/env.sh`) for `sluice \
     query`, `sample`, `report` and the sql_filter stage";

/// Registers the `sql_filter` stage; without polars, a config that names it is refused
/// before any work, with how to get it.
pub fn register(r: &mut StageRegistry) {
    #[cfg(feature = "query")]
    query::register(r);
    #[cfg(not(feature = "query"))]
    r.register(pipeline::StageInfo {
        type_name: "sql_filter",
        summary: "(not in this build: needs the `query` feature, polars)",
        outputs: "sql_filter.where",
        factory: |_, _| Err(MISSING.to_string()),
    });
}

/// The demo's last step: its HTML report, or a line saying how to get one.
pub fn demo_report(run: &Path, train: &Path, out: &Path) -> Result<()> {
    #[cfg(feature = "query")]
    {
        crate::report::write_report(run, Some(train), out)?;
        println!("report: {}", out.display());
    }
    #[cfg(not(feature = "query"))]
    println!(
        "report: not written: {MISSING}; then `sluice report {} --train {} --out {}`",
        run.display(),
        train.display(),
        out.display()
    );
    Ok(())
}

#[cfg(not(feature = "query"))]
pub fn report(_args: &ReportArgs) -> Result<()> {
    anyhow::bail!("report: {MISSING}")
}

#[cfg(not(feature = "query"))]
pub fn query(_args: &QueryArgs) -> Result<()> {
    anyhow::bail!("query: {MISSING}")
}

#[cfg(not(feature = "query"))]
pub fn sample(_args: &SampleArgs) -> Result<()> {
    anyhow::bail!("sample: {MISSING}")
}

/// `sluice report`: the run (local, or a local view of an s3:// one) and, with --train, the
/// training run.
#[cfg(feature = "query")]
pub fn report(args: &ReportArgs) -> Result<()> {
    let run = crate::local_view(&args.run)?;
    crate::report::write_report(&run, args.train.as_deref(), &args.out)?;
    println!("report: {}", args.out.display());
    Ok(())
}

/// `sluice query` (an s3:// run through a local view of it).
#[cfg(feature = "query")]
pub fn query(args: &QueryArgs) -> Result<()> {
    use std::io::IsTerminal;
    let format: query::Format = args.format.parse().map_err(anyhow::Error::msg)?;
    let run = crate::local_view(&args.run)?;
    // Read by polars when it formats the table; set before polars starts its threads. Off a
    // terminal (a pipe, a cron log) nothing is wrapped to a guessed width.
    let env = [
        ("POLARS_FMT_MAX_ROWS", args.max_rows.to_string()),
        ("POLARS_FMT_MAX_COLS", "40".into()),
        ("POLARS_FMT_STR_LEN", "60".into()),
        (
            "POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION",
            "1".into(),
        ),
        ("POLARS_FMT_TABLE_HIDE_COLUMN_SEPARATOR", "1".into()),
        ("POLARS_FMT_TABLE_ROUNDED_CORNERS", "1".into()),
    ];
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    if !std::io::stdout().is_terminal() {
        std::env::set_var("POLARS_TABLE_WIDTH", "10000");
    }
    let tables = query::RunTables::open(&run)?;
    let mut df = tables.run(&args.sql)?;
    query::write_frame(&mut df, format, args.out.as_deref())?;
    if format == query::Format::Table && df.height() > args.max_rows {
        eprintln!("{} rows (--max-rows, or --format csv for all)", df.height());
    }
    Ok(())
}

/// `sluice sample`: each document as a short block.
#[cfg(feature = "query")]
pub fn sample(args: &SampleArgs) -> Result<()> {
    let spec = query::SampleSpec {
        kept: args.kept,
        reason: args.reason.clone(),
        stage: args.stage.clone(),
        domain: args.domain.clone(),
        n: args.n,
        seed: args.seed,
        excerpt_chars: args.chars,
    };
    let tables = query::RunTables::open(&crate::local_view(&args.run)?)?;
    let (docs, matched) = query::sample(&tables, &spec)?;
    println!(
        "{} of {matched} {} documents (seed {})",
        docs.len(),
        if spec.kept { "kept" } else { "rejected" },
        spec.seed
    );
    for (i, d) in docs.iter().enumerate() {
        println!(
            "\n[{}] {}  domain={}  chars={}",
            i + 1,
            d.id,
            d.domain,
            d.chars
        );
        if !spec.kept {
            println!("    stage={}  reason={}", d.stage, d.reason);
            if !d.detail.is_empty() {
                println!("    detail: {}", d.detail);
            }
        }
        for line in d.excerpt.lines() {
            println!("    | {line}");
        }
        if (d.excerpt.chars().count() as u64) < d.chars {
            println!("    | …");
        }
    }
    Ok(())
}

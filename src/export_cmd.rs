//! `sluice export RUN --to FORMAT --out DIR`: a finished run's token shards in another
//! trainer's format (see the `export` crate), then the lines that mix its domains there.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The run's output directory (holding manifest.json), or the manifest itself.
    pub run: PathBuf,
    /// The format: megatron, litdata (or mds).
    #[arg(long)]
    pub to: String,
    /// The export directory (created; a killed export resumes into it).
    #[arg(long)]
    pub out: PathBuf,
    /// uint16 or int32 (default: uint16 below 65,500 tokens of vocabulary, as Megatron).
    #[arg(long)]
    pub dtype: Option<String>,
    /// litdata / mds: tokens per chunk or shard at most (default 2^25).
    #[arg(long)]
    pub chunk_tokens: Option<usize>,
    /// Domain weights for the mix lines, `web=0.7,code=0.3` (default: by tokens).
    #[arg(long)]
    pub weights: Option<String>,
    /// Domains exported at once (default: every core).
    #[arg(long)]
    pub workers: Option<usize>,
}

fn weights(s: &str) -> Result<BTreeMap<String, f64>> {
    s.split(',')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--weights: '{kv}' is not DOMAIN=WEIGHT"))?;
            let w: f64 = v
                .parse()
                .with_context(|| format!("--weights: '{v}' is not a number"))?;
            Ok((k.to_string(), w))
        })
        .collect()
}

pub fn run(a: ExportArgs) -> Result<()> {
    let manifest = match a.run.is_dir() {
        true => a.run.join("manifest.json"),
        false => a.run.clone(),
    };
    let opts = export::Options {
        format: a.to,
        out: a.out,
        dtype: a.dtype.as_deref().map(export::Dtype::parse).transpose()?,
        chunk_tokens: a.chunk_tokens,
        weights: a.weights.as_deref().map(weights).transpose()?,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.workers.unwrap_or(0))
        .build()
        .context("starting the export threads")?;
    let mix = pool
        .install(|| export::export(&manifest, &opts))
        .with_context(|| format!("exporting {}", manifest.display()))?;
    println!("exported {} to {}", manifest.display(), opts.out.display());
    print!("{mix}");
    Ok(())
}

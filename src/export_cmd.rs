//! `sluice export RUN --to FORMAT --out DIR`: a finished run's token shards in another
//! trainer's format (see the `export` crate), then the lines that mix its domains there.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The run's output directory (holding manifest.json), or the manifest itself.
    pub run: PathBuf,
    /// The format: megatron, litdata or mds.
    #[arg(long)]
    pub to: String,
    /// The export directory (created; a killed export resumes into it), or an `s3://`
    /// prefix (written in a local staging directory under the cache, then uploaded, with
    /// `export.json` last).
    #[arg(long)]
    pub out: String,
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
    let (local, mirror) = match store::Location::parse(&a.out)? {
        store::Location::Local(p) => (p, None),
        store::Location::Object(url) => {
            let staging = store::cache_dir()
                .join("export-staging")
                .join(&url.bucket)
                .join(&url.key);
            let m = store::Mirror::new(staging.clone(), url, |r| r == "export.json", &[]);
            // A resumed export continues from what the bucket holds.
            m.hydrate(false).context("reading the export's prefix")?;
            (staging, Some(m))
        }
    };
    let opts = export::Options {
        format: a.to,
        out: local,
        dtype: a.dtype.as_deref().map(export::Dtype::parse).transpose()?,
        chunk_tokens: a.chunk_tokens,
        weights: a.weights.as_deref().map(weights).transpose()?,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.workers.unwrap_or(0))
        .build()
        .context("starting the export threads")?;
    let mut mix = pool
        .install(|| export::export(&manifest, &opts))
        .with_context(|| format!("exporting {}", manifest.display()))?;
    if let Some(m) = mirror {
        let n = m
            .pass()
            .with_context(|| format!("uploading to {}", a.out))?;
        tracing::info!("uploaded {n} files to {}", a.out);
        mix = mix.replace(&opts.out.display().to_string(), a.out.trim_end_matches('/'));
    }
    println!("exported {} to {}", manifest.display(), a.out);
    print!("{mix}");
    Ok(())
}

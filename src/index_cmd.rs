//! `sluice index info|verify|compact`: looks after the persistent dedup indexes that
//! `exact_dedup` and `minhash_dedup` read and extend (`index = PATH`), local or `s3://`.

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum IndexCommand {
    /// What an index holds: its settings, segments and runs.
    Info { index: String },
    /// Reads every segment whole and checks it against its checksum.
    Verify { index: String },
    /// Merges all segments into one (under the index's lock; runs wait for it).
    Compact {
        index: String,
        /// Where the merged segment is built before it is put in place.
        #[arg(long)]
        scratch: Option<std::path::PathBuf>,
    },
}

pub fn run(cmd: IndexCommand) -> Result<()> {
    match cmd {
        IndexCommand::Info { index } => info(&index),
        IndexCommand::Verify { index } => {
            let n = dedup::index::verify(&index)?;
            println!("{index}: {n} segments, every checksum matches");
            Ok(())
        }
        IndexCommand::Compact { index, scratch } => {
            let dir = match scratch {
                Some(d) => d,
                None => store::cache_dir().join("index-compact"),
            };
            let staging = dir.join(format!("compact-{}", std::process::id()));
            let result = dedup::index::compact(&index, &staging);
            let _ = std::fs::remove_dir_all(&staging);
            let (before, after) = result?;
            println!("{index}: {before} segments -> {after}");
            Ok(())
        }
    }
}

fn info(index: &str) -> Result<()> {
    let (_, m) = dedup::index::manifest(index)?;
    let params: Vec<String> = m.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{index}: {} index ({})", m.kind, params.join(", "));
    let (mut docs, mut entries, mut bytes) = (0, 0, 0);
    for s in &m.segments {
        let runs: Vec<&str> = s.runs.iter().map(|r| r.run.as_str()).collect();
        println!(
            "  {}: {} documents, {} keys, {:.1} MB; runs {}",
            s.name,
            s.docs,
            s.entries,
            s.bytes as f64 / 1e6,
            runs.join(", ")
        );
        (docs, entries, bytes) = (docs + s.docs, entries + s.entries, bytes + s.bytes);
    }
    println!(
        "  total: {} segments, {docs} documents, {entries} keys, {:.1} MB",
        m.segments.len(),
        bytes as f64 / 1e6
    );
    Ok(())
}

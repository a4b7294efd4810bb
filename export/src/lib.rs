//! `sluice export`: a run's packed token shards in the formats other trainers read. An
//! [`Exporter`] writes one domain's documents (read back by [`docs::DomainDocs`]) under the
//! export directory and says how its trainer mixes the domains; adding a format is one file
//! and one line in [`EXPORTERS`]. Domains are exported in parallel, each through temporary
//! names renamed when complete and recorded in `export.json`, so a killed export resumes
//! where it stopped and the output is byte-identical whatever the thread count.

pub mod docs;
pub mod error;
pub mod litdata;
pub mod mds;
pub mod megatron;

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use error::io;
pub use error::ExportError;

/// Every export format.
pub static EXPORTERS: &[&dyn Exporter] = &[&megatron::Megatron, &litdata::Litdata, &mds::Mds];

/// What every format's writer is told besides the documents.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub dtype: Dtype,
    /// Formats with chunks or shards: tokens per chunk at most (a longer document gets one
    /// of its own).
    pub chunk_tokens: usize,
    /// The run's row length (`seq_len + 1`): the block size its trainer reads.
    pub row_len: usize,
}

/// Token id width in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    U16,
    I32,
}

impl Dtype {
    pub fn parse(s: &str) -> Result<Dtype, ExportError> {
        match s {
            "uint16" => Ok(Dtype::U16),
            "int32" => Ok(Dtype::I32),
            _ => Err(ExportError::Invalid(format!(
                "--dtype {s}: uint16 or int32"
            ))),
        }
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::U16 => 2,
            Dtype::I32 => 4,
        }
    }

    pub(crate) fn write(self, w: &mut impl Write, t: u32) -> std::io::Result<()> {
        match self {
            Dtype::U16 => w.write_all(&(t as u16).to_le_bytes()),
            Dtype::I32 => w.write_all(&(t as i32).to_le_bytes()),
        }
    }

    /// Megatron's `optimal_dtype`: uint16 below 65,500 tokens of vocabulary.
    fn for_vocab(vocab: u32) -> Dtype {
        match vocab < 65_500 {
            true => Dtype::U16,
            false => Dtype::I32,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainReport {
    pub docs: u64,
    pub tokens: u64,
    /// Formats whose samples are the run's packed rows: how many.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub samples: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub trait Exporter: Sync {
    fn name(&self) -> &'static str;
    /// Writes one domain's documents under `dir` as files named from `stem`, each through
    /// [`partial`] and [`commit`].
    fn write_domain(
        &self,
        dir: &Path,
        stem: &str,
        docs: &mut docs::DomainDocs,
        p: &Params,
    ) -> Result<DomainReport, ExportError>;
    /// How the trainer mixes the domains (`stem`, weight), as lines to print.
    fn mix_lines(&self, dir: &Path, domains: &[(String, f64)], p: &Params) -> String;
}

/// A file's temporary name while it is written.
pub fn partial(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// A writer of `partial(path)`, to be [`commit`]ted.
pub fn create(path: &Path) -> Result<BufWriter<std::fs::File>, ExportError> {
    Ok(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(partial(path)).map_err(io(path))?,
    ))
}

/// Writes `value` as JSON to `path` (through [`partial`] and [`commit`]).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ExportError> {
    let mut w = create(path)?;
    serde_json::to_writer(&mut w, value).map_err(|e| io(path)(e.into()))?;
    commit(w, path)
}

/// Flushes, syncs and renames `partial(path)` to `path`.
pub fn commit(mut w: BufWriter<std::fs::File>, path: &Path) -> Result<(), ExportError> {
    w.flush().map_err(io(path))?;
    let f = w.into_inner().map_err(|e| io(path)(e.into_error()))?;
    f.sync_all().map_err(io(path))?;
    std::fs::rename(partial(path), path).map_err(io(path))
}

/// What the export directory records: which run and format it holds, and the domains done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    format: String,
    manifest_sha256: String,
    dtype: Dtype,
    chunk_tokens: usize,
    domains: BTreeMap<String, DomainReport>,
}

pub struct Options {
    pub format: String,
    pub out: PathBuf,
    pub dtype: Option<Dtype>,
    /// See [`Params::chunk_tokens`] (default 2^25).
    pub chunk_tokens: Option<usize>,
    /// Domain weights for the mix lines (default: by tokens).
    pub weights: Option<BTreeMap<String, f64>>,
}

/// A domain's file stem: the name with anything but letters, digits, `-`, `_` and `.` as `_`.
fn stem(domain: &str) -> String {
    domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Exports the run whose (local) manifest is `manifest`; returns the mix lines to print.
pub fn export(manifest: &Path, o: &Options) -> Result<String, ExportError> {
    let exporter = EXPORTERS
        .iter()
        .find(|e| e.name() == o.format)
        .ok_or_else(|| {
            let names: Vec<&str> = EXPORTERS.iter().map(|e| e.name()).collect();
            ExportError::Invalid(format!(
                "--to {}: formats are {}",
                o.format,
                names.join(", ")
            ))
        })?;
    let bytes = std::fs::read(manifest).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ExportError::Invalid(format!(
            "{}: no manifest (a run exports once its [tokenize] step has packed shards)",
            manifest.display()
        )),
        _ => io(manifest)(e),
    })?;
    let m = feed::Manifest::from_bytes(manifest, &bytes)?;
    let vocab = m.tokenizer.vocab_size;
    let dtype = o.dtype.unwrap_or(Dtype::for_vocab(vocab));
    if dtype == Dtype::U16 && vocab > 65_536 {
        return Err(ExportError::Invalid(format!(
            "--dtype uint16 holds ids below 65,536; this run's tokenizer has {vocab} tokens: use int32"
        )));
    }
    let stems: BTreeMap<String, String> = m.domains.keys().map(|d| (stem(d), d.clone())).collect();
    if stems.len() != m.domains.len() {
        return Err(ExportError::Invalid(
            "two domains map to one file name".into(),
        ));
    }
    std::fs::create_dir_all(&o.out).map_err(io(&o.out))?;
    let progress_path = o.out.join("export.json");
    let chunk_tokens = o.chunk_tokens.unwrap_or(1 << 25).max(1);
    let fresh = Progress {
        format: o.format.clone(),
        manifest_sha256: feed::manifest::hex(&sha2::Sha256::digest(&bytes)),
        dtype,
        chunk_tokens,
        domains: BTreeMap::new(),
    };
    let mut progress = read_progress(&progress_path, &fresh)?;
    let todo: Vec<(&String, &String)> = stems
        .iter()
        .filter(|(s, _)| !progress.domains.contains_key(*s))
        .collect();
    let params = Params {
        dtype,
        chunk_tokens,
        row_len: m.row_len as usize,
    };
    let done = std::sync::Mutex::new(&mut progress);
    todo.par_iter().try_for_each(|(s, d)| {
        let entry = &m.domains[*d];
        let shards = docs::shard_paths(manifest, &entry.shards);
        let mut docs = docs::DomainDocs::new(shards, m.row_len as usize);
        let r = exporter.write_domain(&o.out, s, &mut docs, &params)?;
        let mut p = done.lock().expect("not poisoned");
        p.domains.insert((*s).clone(), r);
        write_json(&progress_path, &**p)
    })?;
    let total: u64 = progress.domains.values().map(|r| r.tokens).sum();
    let mix: Vec<(String, f64)> = stems
        .iter()
        .map(|(s, d)| {
            let w = match &o.weights {
                Some(w) => w.get(d).copied().unwrap_or(0.0),
                None => progress.domains[s].tokens as f64 / total.max(1) as f64,
            };
            (s.clone(), (w * 1e6).round() / 1e6)
        })
        .collect();
    Ok(exporter.mix_lines(&o.out, &mix, &params))
}

fn read_progress(path: &Path, fresh: &Progress) -> Result<Progress, ExportError> {
    let Ok(bytes) = std::fs::read(path) else {
        write_json(path, fresh)?;
        return Ok(fresh.clone());
    };
    let p: Progress = serde_json::from_slice(&bytes).map_err(|e| ExportError::Corrupt {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let what = |p: &Progress| {
        (
            p.format.clone(),
            p.manifest_sha256.clone(),
            p.dtype,
            p.chunk_tokens,
        )
    };
    if what(&p) != what(fresh) {
        return Err(ExportError::Invalid(format!(
            "{} holds a {} export ({:?}) of another manifest, dtype or chunk size; choose another --out",
            path.parent().unwrap_or(Path::new(".")).display(),
            p.format,
            p.dtype
        )));
    }
    Ok(p)
}

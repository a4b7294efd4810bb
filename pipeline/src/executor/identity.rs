//! A run's identity: the fingerprint of what decides its output (config, input files, files
//! the stages read), kept in `work/run.json` so a different run is never mixed into `OUT`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::LoadedPipeline;
use crate::error::PipelineError;
use crate::reader::{display_path, InputFile, ShardSpec};

#[derive(Serialize, Deserialize, PartialEq)]
pub(crate) struct RunIdentity {
    fingerprint: String,
    shards: usize,
    phases: usize,
}

impl RunIdentity {
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |e| PipelineError::io(path, e)
}

/// Size, modification time (ns) and inode of `path`: any edit, replacement or `touch` of an
/// input changes it.
fn file_stamp(path: &Path) -> Result<[u8; 32], PipelineError> {
    let m = std::fs::metadata(path).map_err(io(path))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&m.len().to_le_bytes());
    out[8..24].copy_from_slice(&mtime.to_le_bytes());
    out[24..].copy_from_slice(&inode.to_le_bytes());
    Ok(out)
}

/// xxh3-128 of a file's contents, streamed.
fn content_hash(path: &Path) -> Result<u128, PipelineError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(h.digest128());
        }
        h.update(&buf[..n]);
    }
}

/// Hash of what decides the output: the config (less the output dir and worker count), the
/// input files' size, modification time and inode (reading hundreds of GB on every resume
/// would cost more than the run), and the contents of every file a stage or the tokenizer
/// reads. The shard plan follows from the config and the files.
pub(crate) fn run_identity(
    pipeline: &LoadedPipeline,
    shards: &[ShardSpec],
    phases: usize,
) -> Result<RunIdentity, PipelineError> {
    let mut cfg = pipeline.config.clone();
    cfg.output.dir = Default::default();
    cfg.run.workers = None;
    cfg.run.scratch = None;
    cfg.run.intermediates = None;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(
        serde_json::to_string(&cfg)
            .expect("config serializes")
            .as_bytes(),
    );
    let mut last: Option<&InputFile> = None;
    for s in shards {
        for f in &s.files {
            // The parts of a cut file name it once.
            if last == Some(f) {
                continue;
            }
            last = Some(f);
            h.update(f.display(&pipeline.base_dir).as_bytes());
            match f {
                InputFile::Local(p) => h.update(&file_stamp(p)?),
                InputFile::Object(o) => {
                    h.update(&o.size.to_le_bytes());
                    h.update(&o.modified.to_le_bytes());
                    h.update(o.etag.as_deref().unwrap_or("").as_bytes());
                }
            }
        }
    }
    for f in &pipeline.referenced_files {
        h.update(display_path(f, &pipeline.base_dir).as_bytes());
        h.update(&content_hash(f)?.to_le_bytes());
    }
    Ok(RunIdentity {
        fingerprint: format!("{:032x}", h.digest128()),
        shards: shards.len(),
        phases,
    })
}

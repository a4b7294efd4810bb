//! Expands the configured inputs into an ordered list of shards. The order depends only on
//! the config and the file names, never on the worker count.

use std::path::{Path, PathBuf};

use crate::config::{InputFormat, LoadedPipeline};
use crate::error::PipelineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InputKind {
    Jsonl,
    Parquet,
    Text,
}

/// One unit of parallel work: a JSONL or Parquet file, or a group of text files.
#[derive(Debug, Clone)]
pub struct ShardSpec {
    pub index: usize,
    /// Index of the `[[input]]` table this shard came from.
    pub input: usize,
    pub kind: InputKind,
    pub files: Vec<PathBuf>,
}

fn kind_of(path: &Path) -> Option<InputKind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let stem = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .or_else(|| name.strip_suffix(".zstd"))
        .unwrap_or(&name);
    if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") || stem.ends_with(".json") {
        Some(InputKind::Jsonl)
    } else if name.ends_with(".parquet") {
        Some(InputKind::Parquet)
    } else if name.ends_with(".txt") {
        Some(InputKind::Text)
    } else {
        None
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_type()?.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Lists every shard of the run, in a deterministic order.
pub fn plan_shards(p: &LoadedPipeline) -> Result<Vec<ShardSpec>, PipelineError> {
    let cfg_err = |message: String| PipelineError::Config {
        path: p.config_path.clone(),
        message,
    };
    let mut shards = Vec::new();
    for (i, input) in p.config.inputs.iter().enumerate() {
        let mut files: Vec<(PathBuf, InputKind)> = Vec::new();
        for pat in &input.paths {
            let resolved = p.resolve(Path::new(pat));
            let mut candidates: Vec<(PathBuf, bool)> = Vec::new();
            if pat.contains(['*', '?', '[']) {
                let pattern = resolved.to_string_lossy().into_owned();
                let paths = glob::glob(&pattern)
                    .map_err(|e| cfg_err(format!("input[{i}].paths: bad glob '{pat}': {e}")))?;
                for entry in paths {
                    let path =
                        entry.map_err(|e| cfg_err(format!("input[{i}].paths: '{pat}': {e}")))?;
                    candidates.push((path, false));
                }
                if candidates.is_empty() {
                    return Err(cfg_err(format!(
                        "input[{i}].paths: '{pat}' matched no files (relative paths resolve from {})",
                        p.base_dir.display()
                    )));
                }
            } else if resolved.is_dir() {
                let mut found = Vec::new();
                walk(&resolved, &mut found).map_err(|e| PipelineError::io(&resolved, e))?;
                candidates.extend(found.into_iter().map(|f| (f, true)));
            } else if resolved.exists() {
                candidates.push((resolved, false));
            } else {
                return Err(cfg_err(format!(
                    "input[{i}].paths: '{pat}' does not exist (relative paths resolve from {})",
                    p.base_dir.display()
                )));
            }
            for (path, from_dir) in candidates {
                if path.is_dir() {
                    continue;
                }
                let detected = kind_of(&path);
                let kind = match input.format {
                    InputFormat::Jsonl => Some(InputKind::Jsonl),
                    InputFormat::Parquet => Some(InputKind::Parquet),
                    InputFormat::Text => Some(InputKind::Text),
                    InputFormat::Auto => detected,
                };
                let wanted_ext = path
                    .extension()
                    .is_some_and(|e| e.to_string_lossy() == input.text_extension);
                if from_dir {
                    // Inside a directory, only files of the chosen format are documents.
                    let wanted = match kind {
                        Some(InputKind::Text) => wanted_ext,
                        Some(k) => detected == Some(k),
                        None => false,
                    };
                    if wanted {
                        files.push((path, kind.expect("wanted implies a kind")));
                    }
                    continue;
                }
                match kind {
                    Some(k) => files.push((path, k)),
                    None => {
                        return Err(cfg_err(format!(
                            "input[{i}]: cannot tell the format of '{}'; set input[{i}].format to jsonl, parquet or text",
                            path.display()
                        )))
                    }
                }
            }
        }
        files.sort();
        files.dedup();
        let mut text_group: Vec<PathBuf> = Vec::new();
        for (path, kind) in files {
            match kind {
                InputKind::Text => {
                    text_group.push(path);
                    if text_group.len() == input.files_per_shard {
                        shards.push((i, InputKind::Text, std::mem::take(&mut text_group)));
                    }
                }
                k => shards.push((i, k, vec![path])),
            }
        }
        if !text_group.is_empty() {
            shards.push((i, InputKind::Text, text_group));
        }
    }
    if shards.is_empty() {
        return Err(cfg_err(
            "the inputs hold no files of a known format (.jsonl[.gz|.zst], .parquet, .txt)".into(),
        ));
    }
    Ok(shards
        .into_iter()
        .enumerate()
        .map(|(index, (input, kind, files))| ShardSpec {
            index,
            input,
            kind,
            files,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(kind_of(Path::new("a.jsonl.gz")), Some(InputKind::Jsonl));
        assert_eq!(kind_of(Path::new("a.JSONL.zst")), Some(InputKind::Jsonl));
        assert_eq!(kind_of(Path::new("a.parquet")), Some(InputKind::Parquet));
        assert_eq!(kind_of(Path::new("x/a.txt")), Some(InputKind::Text));
        assert_eq!(kind_of(Path::new("a.csv")), None);
    }
}

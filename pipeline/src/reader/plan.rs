//! Expands the configured inputs (local paths, globs, directories, `s3://` keys and globs)
//! into an ordered list of shards, cutting big files so that every worker has work on any
//! input: each file's [`Format`](super::Format) cuts it into parts of about `run.shard_mb`
//! (byte ranges at line starts for JSONL, runs of row groups for Parquet) or reads it whole;
//! one-document-per-file formats (text) are grouped. A big file that cannot be cut (a
//! compressed stream) is marked `wide`: it is decoded on one thread while every worker
//! processes its batches. The plan depends only on the config and the files, never on the
//! worker count, so a shard's identity (file, range) is stable across resumes.

use std::path::{Path, PathBuf};

use store::{Location, ObjectUrl};

use super::format::InputKind;
use super::input_file::InputFile;
use crate::config::LoadedPipeline;
use crate::error::PipelineError;

/// Which part of its file a shard reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// All of it (and all files of a group of one-document files).
    Whole,
    /// Units `start..end` of the file, in the format's own units (bytes at line starts for
    /// JSONL, row groups for Parquet); the part's first record is record `first` of the file
    /// (JSONL: its 1-based line; Parquet: its 0-based row), so ids and messages name the same
    /// records as an uncut read.
    Range { start: u64, end: u64, first: u64 },
}

/// One unit of parallel work: (part of) a JSONL or Parquet file, or a group of text files.
#[derive(Debug, Clone)]
pub struct ShardSpec {
    pub index: usize,
    /// Index of the `[[input]]` table this shard came from.
    pub input: usize,
    pub kind: InputKind,
    pub files: Vec<InputFile>,
    pub part: Part,
    /// Bytes of input on disk this shard reads (for progress).
    pub size: u64,
    /// A big file that cannot be cut (gzip, zstd): run alone, its batches on every worker.
    pub wide: bool,
}

impl ShardSpec {
    /// A shard reading the whole of `files`.
    pub fn whole(index: usize, input: usize, kind: InputKind, files: Vec<PathBuf>) -> Self {
        let files: Vec<InputFile> = files.into_iter().map(InputFile::Local).collect();
        let size = files.iter().map(|f| f.size().unwrap_or(0)).sum();
        ShardSpec {
            index,
            input,
            kind,
            files,
            part: Part::Whole,
            size,
            wide: false,
        }
    }
}

/// The shards of one file: one, or the parts its format cuts it into.
fn file_parts(path: &InputFile, kind: InputKind, target: u64) -> Result<Vec<(Part, u64)>, String> {
    let len = path.size().map_err(|e| format!("{path}: {e}"))?;
    if len <= target {
        return Ok(vec![(Part::Whole, len)]);
    }
    kind.format().parts(path, len, target)
}

/// The format of a local file by its name (`format = "auto"`; see each format's `detects`).
pub fn kind_of(path: &Path) -> Option<InputKind> {
    InputKind::of_name(&path.file_name()?.to_string_lossy())
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

/// The files a local path or glob names: (file, found by walking a directory).
fn local_candidates(
    p: &LoadedPipeline,
    i: usize,
    pat: &str,
    cfg_err: &dyn Fn(String) -> PipelineError,
) -> Result<Vec<(InputFile, bool)>, PipelineError> {
    let resolved = p.resolve(Path::new(pat));
    let mut candidates = Vec::new();
    if pat.contains(['*', '?', '[']) {
        let pattern = resolved.to_string_lossy().into_owned();
        let paths = glob::glob(&pattern)
            .map_err(|e| cfg_err(format!("input[{i}].paths: bad glob '{pat}': {e}")))?;
        for entry in paths {
            let path = entry.map_err(|e| cfg_err(format!("input[{i}].paths: '{pat}': {e}")))?;
            if !path.is_dir() {
                candidates.push((InputFile::Local(path), false));
            }
        }
    } else if resolved.is_dir() {
        let mut found = Vec::new();
        walk(&resolved, &mut found).map_err(|e| PipelineError::io(&resolved, e))?;
        candidates.extend(found.into_iter().map(|f| (InputFile::Local(f), true)));
    } else if resolved.exists() {
        candidates.push((InputFile::Local(resolved), false));
    } else {
        return Err(cfg_err(format!(
            "input[{i}].paths: '{pat}' does not exist (relative paths resolve from {})",
            p.base_dir.display()
        )));
    }
    Ok(candidates)
}

/// The objects an `s3://` URL names: the object itself, every object under it as a prefix
/// (like a directory), or those a glob matches (`*` and `?` within a segment, `**` across
/// segments), listed from the key's part before the first wildcard.
fn object_candidates(
    url: &ObjectUrl,
    i: usize,
    pat: &str,
    cfg_err: &dyn Fn(String) -> PipelineError,
) -> Result<Vec<(InputFile, bool)>, PipelineError> {
    if !url.key.contains(['*', '?', '[']) {
        if let Some(info) = url.head()? {
            return Ok(vec![(InputFile::Object(info), false)]);
        }
        return Ok(url
            .list()?
            .into_iter()
            .map(|o| (InputFile::Object(o), true))
            .collect());
    }
    let glob = glob::Pattern::new(&url.key)
        .map_err(|e| cfg_err(format!("input[{i}].paths: bad glob '{pat}': {e}")))?;
    let fixed = url.key[..url.key.find(['*', '?', '[']).expect("has a wildcard")]
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir);
    let prefix = ObjectUrl {
        bucket: url.bucket.clone(),
        key: fixed.to_string(),
    };
    let opts = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    Ok(prefix
        .list()?
        .into_iter()
        .filter(|o| glob.matches_with(&o.url.key, opts))
        .map(|o| (InputFile::Object(o), false))
        .collect())
}

/// Lists every shard of the run, in a deterministic order.
pub fn plan_shards(p: &LoadedPipeline) -> Result<Vec<ShardSpec>, PipelineError> {
    let cfg_err = |message: String| PipelineError::Config {
        path: p.config_path.clone(),
        message,
    };
    let target = p.config.run.shard_mb << 20;
    let mut shards: Vec<Planned> = Vec::new();
    for (i, input) in p.config.inputs.iter().enumerate() {
        let mut files: Vec<(InputFile, InputKind)> = Vec::new();
        for pat in &input.paths {
            let candidates = match Location::parse(pat)? {
                Location::Object(url) => object_candidates(&url, i, pat, &cfg_err)?,
                Location::Local(_) => local_candidates(p, i, pat, &cfg_err)?,
            };
            if candidates.is_empty() {
                return Err(cfg_err(format!(
                    "input[{i}].paths: '{pat}' matched no files (relative paths resolve from {})",
                    p.base_dir.display()
                )));
            }
            for (path, from_dir) in candidates {
                let detected = InputKind::of_name(&path.file_name());
                let kind = match input.format.as_str() {
                    "auto" => detected,
                    name => Some(InputKind::named(name).ok_or_else(|| {
                        cfg_err(format!("input[{i}].format: unknown format '{name}'"))
                    })?),
                };
                let wanted_ext = path.extension().is_some_and(|e| e == input.text_extension);
                if from_dir {
                    // Inside a directory, only files of the chosen format are documents.
                    let wanted = match kind {
                        Some(k) if k.format().file_per_document() => wanted_ext,
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
                            "input[{i}]: cannot tell the format of '{}'; set input[{i}].format to one of {}",
                            path.display(&p.base_dir),
                            InputKind::names().join(", ")
                        )))
                    }
                }
            }
        }
        files.sort();
        files.dedup();
        // Files that are one document each, grouped into shards of their format.
        let mut group: Vec<InputFile> = Vec::new();
        let mut group_kind: Option<InputKind> = None;
        let mut group_bytes = 0u64;
        for (path, kind) in files {
            if kind.format().file_per_document() {
                if group_kind.is_some_and(|g| g != kind) {
                    let files = std::mem::take(&mut group);
                    shards.push(Planned::group(
                        i,
                        group_kind.expect("set"),
                        files,
                        group_bytes,
                    ));
                    group_bytes = 0;
                }
                group_kind = Some(kind);
                group_bytes += path.size().unwrap_or(0);
                group.push(path);
                if group.len() == input.files_per_shard || group_bytes >= target {
                    let files = std::mem::take(&mut group);
                    shards.push(Planned::group(i, kind, files, group_bytes));
                    group_bytes = 0;
                }
                continue;
            }
            let parts = file_parts(&path, kind, target)
                .map_err(|e| cfg_err(format!("input[{i}]: cannot plan shards: {e}")))?;
            let wide = kind.format().streams(&path) && parts[0].1 > target / 4;
            for (part, size) in parts {
                shards.push(Planned {
                    input: i,
                    kind,
                    files: vec![path.clone()],
                    part,
                    size,
                    wide,
                });
            }
        }
        if let (false, Some(kind)) = (group.is_empty(), group_kind) {
            shards.push(Planned::group(i, kind, group, group_bytes));
        }
    }
    if shards.is_empty() {
        return Err(cfg_err(format!(
            "the inputs hold no files of a known format ({})",
            InputKind::names().join(", ")
        )));
    }
    Ok(shards
        .into_iter()
        .enumerate()
        .map(|(index, s)| ShardSpec {
            index,
            input: s.input,
            kind: s.kind,
            files: s.files,
            part: s.part,
            size: s.size,
            wide: s.wide,
        })
        .collect())
}

/// A shard before numbering.
struct Planned {
    input: usize,
    kind: InputKind,
    files: Vec<InputFile>,
    part: Part,
    size: u64,
    wide: bool,
}

impl Planned {
    fn group(input: usize, kind: InputKind, files: Vec<InputFile>, size: u64) -> Self {
        Planned {
            input,
            kind,
            files,
            part: Part::Whole,
            size,
            wide: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{str_column, ID, TEXT};
    use crate::reader::jsonl::tests::{input, limits};
    use crate::reader::open_shard;
    use arrow::array::Array;

    fn kind(name: &str) -> InputKind {
        InputKind::named(name).unwrap()
    }

    /// (id, text) of every document of `spec`, and the quarantine details.
    fn read(spec: &ShardSpec) -> (Vec<(String, String)>, Vec<String>) {
        let mut src = open_shard(spec, &input(), Path::new("/"), limits(7));
        let (mut docs, mut bad) = (vec![], vec![]);
        while let Some(c) = src.next_chunk().unwrap() {
            let (id, t) = (
                str_column(&c.docs, ID).unwrap(),
                str_column(&c.docs, TEXT).unwrap(),
            );
            docs.extend((0..t.len()).map(|i| (id.value(i).to_string(), t.value(i).to_string())));
            bad.extend(c.bad.into_iter().map(|q| q.detail));
        }
        (docs, bad)
    }

    /// Reading the parts one after another gives what reading the whole file gives.
    fn parts_read_like_the_whole(path: &Path, kind: InputKind, parts: Vec<(Part, u64)>) {
        assert!(parts.len() > 2, "{parts:?}");
        let whole = read(&ShardSpec::whole(0, 0, kind, vec![path.to_path_buf()]));
        let (mut docs, mut bad) = (vec![], vec![]);
        for (part, _) in parts {
            let mut spec = ShardSpec::whole(0, 0, kind, vec![path.to_path_buf()]);
            spec.part = part;
            let (d, b) = read(&spec);
            docs.extend(d);
            bad.extend(b);
        }
        assert_eq!((docs, bad), whole);
    }

    #[test]
    fn jsonl_line_ranges_read_like_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.jsonl");
        let mut text = String::new();
        for i in 0..500 {
            match i % 7 {
                0 => text.push_str(&format!("{{\"text\": \"no id {i}\"}}\n")),
                1 => text.push_str("not json\n"),
                2 => text.push('\n'),
                _ => text.push_str(&format!(
                    "{{\"id\": \"d{i}\", \"text\": \"{}\"}}\n",
                    "w ".repeat(i % 50)
                )),
            }
        }
        std::fs::write(&p, &text).unwrap();
        let len = text.len() as u64;
        let parts =
            super::super::jsonl::jsonl_parts(&InputFile::Local(p.clone()), len, len / 9).unwrap();
        for (part, _) in &parts {
            let Part::Range { start, end, .. } = *part else {
                panic!()
            };
            assert!(start == 0 || text.as_bytes()[start as usize - 1] == b'\n');
            assert!(end == len || text.as_bytes()[end as usize - 1] == b'\n');
        }
        parts_read_like_the_whole(&p, kind("jsonl"), parts);
    }

    #[test]
    fn parquet_row_group_runs_read_like_the_whole_file() {
        use arrow::array::{RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.parquet");
        let schema =
            std::sync::Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, true)]));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let f = std::fs::File::create(&p).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props)).unwrap();
        let texts: Vec<Option<String>> = (0..1000)
            .map(|i| (i % 13 != 0).then(|| format!("document {i} {}", "x".repeat(i % 40))))
            .collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![std::sync::Arc::new(StringArray::from(texts)) as _],
        )
        .unwrap();
        w.write(&batch).unwrap();
        let meta = w.close().unwrap();
        assert_eq!(meta.row_groups().len(), 10);
        let size: i64 = meta.row_groups().iter().map(|g| g.compressed_size()).sum();
        let parts = super::super::parquet_file::parquet_parts(
            &InputFile::Local(p.clone()),
            size as u64 / 4,
        )
        .unwrap();
        parts_read_like_the_whole(&p, kind("parquet"), parts);
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(kind_of(Path::new("a.jsonl.gz")), Some(kind("jsonl")));
        assert_eq!(kind_of(Path::new("a.JSONL.zst")), Some(kind("jsonl")));
        assert_eq!(kind_of(Path::new("a.ndjson")), Some(kind("jsonl")));
        assert_eq!(kind_of(Path::new("a.parquet")), Some(kind("parquet")));
        assert_eq!(kind_of(Path::new("x/a.txt")), Some(kind("text")));
        assert_eq!(kind_of(Path::new("a.csv")), None);
        assert_eq!(kind_of(Path::new("a.gz")), None);
    }
}

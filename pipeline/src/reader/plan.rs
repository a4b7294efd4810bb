//! Expands the configured inputs into an ordered list of shards, cutting big files so that
//! every worker has work on any input: an uncompressed JSONL file into byte ranges at line
//! starts, a Parquet file into runs of row groups, text files into groups, each of about
//! `run.shard_mb`. A compressed JSONL file cannot be cut; a big one is marked `wide`: it is
//! decoded on one thread while every worker processes its batches. The plan depends only on
//! the config and the files, never on the worker count, so a shard's identity (file, range)
//! is stable across resumes.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use store::{Location, ObjectUrl};

use super::input_file::InputFile;

use crate::config::{InputFormat, LoadedPipeline};
use crate::error::PipelineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InputKind {
    Jsonl,
    Parquet,
    Text,
}

/// Which part of its file a shard reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// All of it (and all files of a text group).
    Whole,
    /// Bytes `start..end` of an uncompressed JSONL file, both at line starts; the range's
    /// first line is line `first_line` (1-based) of the file, so ids and messages name the
    /// same lines as an uncut read.
    Lines {
        start: u64,
        end: u64,
        first_line: u64,
    },
    /// Row groups `start..end` of a Parquet file; the first is row `first_row` (0-based).
    RowGroups {
        start: usize,
        end: usize,
        first_row: u64,
    },
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

fn is_compressed(file: &InputFile) -> bool {
    let name = file.file_name().to_lowercase();
    name.ends_with(".gz") || name.ends_with(".zst") || name.ends_with(".zstd")
}

/// Line starts that cut an uncompressed file of `len` bytes into ranges of about `target`.
fn line_cuts(path: &InputFile, len: u64, target: u64) -> std::io::Result<Vec<u64>> {
    let mut cuts = vec![0u64];
    let mut r = BufReader::with_capacity(1 << 16, path.open_with_block(1 << 16)?);
    let mut pos = target;
    while pos < len {
        // The first line starting at or after `pos`: one past the first '\n' at pos-1 or later.
        r.seek(SeekFrom::Start(pos - 1))?;
        let mut at = pos - 1;
        let cut = loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                break len;
            }
            if let Some(i) = memchr::memchr(b'\n', buf) {
                break at + i as u64 + 1;
            }
            let n = buf.len();
            at += n as u64;
            r.consume(n);
        };
        if cut >= len {
            break;
        }
        cuts.push(cut);
        pos = cut + target;
    }
    Ok(cuts)
}

/// Newlines in bytes `start..end` of `path`.
fn count_lines(path: &InputFile, start: u64, end: u64) -> std::io::Result<u64> {
    let mut f = path.open()?;
    f.seek(SeekFrom::Start(start))?;
    let mut f = f.take(end - start);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

/// An uncompressed JSONL file as line ranges of about `target` bytes, with each range's
/// first line number (the newlines are counted on every core).
fn jsonl_parts(path: &InputFile, len: u64, target: u64) -> std::io::Result<Vec<(Part, u64)>> {
    let mut cuts = line_cuts(path, len, target)?;
    cuts.push(len);
    let counts: Vec<u64> = cuts
        .par_windows(2)
        .map(|w| count_lines(path, w[0], w[1]))
        .collect::<std::io::Result<_>>()?;
    let mut first_line = 1;
    Ok(cuts
        .windows(2)
        .zip(counts)
        .map(|(w, n)| {
            let part = Part::Lines {
                start: w[0],
                end: w[1],
                first_line,
            };
            first_line += n;
            (part, w[1] - w[0])
        })
        .collect())
}

/// A Parquet file as runs of row groups of about `target` compressed bytes; `None` when its
/// footer cannot be read (the reader then quarantines the file as a whole).
fn parquet_parts(path: &InputFile, target: u64) -> Option<Vec<(Part, u64)>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(path.parquet_chunks().ok()?).ok()?;
    let meta = reader.metadata();
    let groups = meta.num_row_groups();
    if groups < 2 {
        return None;
    }
    let mut parts = Vec::new();
    let (mut start, mut first_row, mut rows, mut size) = (0, 0u64, 0u64, 0u64);
    for g in 0..groups {
        let rg = meta.row_group(g);
        size += rg.compressed_size().max(0) as u64;
        rows += rg.num_rows().max(0) as u64;
        if size >= target || g + 1 == groups {
            let part = Part::RowGroups {
                start,
                end: g + 1,
                first_row,
            };
            parts.push((part, size));
            (start, first_row, size) = (g + 1, first_row + rows, 0);
            rows = 0;
        }
    }
    Some(parts)
}

/// The shards of one file of a cuttable kind.
fn file_parts(path: &InputFile, kind: InputKind, target: u64) -> Result<Vec<(Part, u64)>, String> {
    let len = path.size().map_err(|e| format!("{path}: {e}"))?;
    let whole = vec![(Part::Whole, len)];
    if len <= target {
        return Ok(whole);
    }
    match kind {
        InputKind::Jsonl if !is_compressed(path) => {
            jsonl_parts(path, len, target).map_err(|e| format!("{path}: {e}"))
        }
        InputKind::Parquet => Ok(parquet_parts(path, target).unwrap_or(whole)),
        _ => Ok(whole),
    }
}

/// The kind of an input file by its name (`format = "auto"`): JSON lines (`.jsonl`,
/// `.ndjson`, `.json`, each also `.gz` / `.zst` / `.zstd`), `.parquet` or `.txt`.
pub fn kind_of(path: &Path) -> Option<InputKind> {
    kind_of_name(&path.file_name()?.to_string_lossy())
}

/// The kind of an input file by its file name (see [`kind_of`]).
pub fn kind_of_name(name: &str) -> Option<InputKind> {
    let name = name.to_lowercase();
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
                let detected = kind_of_name(&path.file_name());
                let kind = match input.format {
                    InputFormat::Jsonl => Some(InputKind::Jsonl),
                    InputFormat::Parquet => Some(InputKind::Parquet),
                    InputFormat::Text => Some(InputKind::Text),
                    InputFormat::Auto => detected,
                };
                let wanted_ext = path.extension().is_some_and(|e| e == input.text_extension);
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
                            path.display(&p.base_dir)
                        )))
                    }
                }
            }
        }
        files.sort();
        files.dedup();
        let mut text_group: Vec<InputFile> = Vec::new();
        let mut group_bytes = 0u64;
        for (path, kind) in files {
            match kind {
                InputKind::Text => {
                    group_bytes += path.size().unwrap_or(0);
                    text_group.push(path);
                    if text_group.len() == input.files_per_shard || group_bytes >= target {
                        let files = std::mem::take(&mut text_group);
                        shards.push(Planned::group(i, files, group_bytes));
                        group_bytes = 0;
                    }
                }
                k => {
                    let parts = file_parts(&path, k, target)
                        .map_err(|e| cfg_err(format!("input[{i}]: cannot plan shards: {e}")))?;
                    let wide =
                        k == InputKind::Jsonl && is_compressed(&path) && parts[0].1 > target / 4;
                    for (part, size) in parts {
                        shards.push(Planned {
                            input: i,
                            kind: k,
                            files: vec![path.clone()],
                            part,
                            size,
                            wide,
                        });
                    }
                }
            }
        }
        if !text_group.is_empty() {
            shards.push(Planned::group(i, text_group, group_bytes));
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
    fn group(input: usize, files: Vec<InputFile>, size: u64) -> Self {
        Planned {
            input,
            kind: InputKind::Text,
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
        let parts = jsonl_parts(&InputFile::Local(p.clone()), len, len / 9).unwrap();
        for (part, _) in &parts {
            let Part::Lines { start, end, .. } = *part else {
                panic!()
            };
            assert!(start == 0 || text.as_bytes()[start as usize - 1] == b'\n');
            assert!(end == len || text.as_bytes()[end as usize - 1] == b'\n');
        }
        parts_read_like_the_whole(&p, InputKind::Jsonl, parts);
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
        let parts = parquet_parts(&InputFile::Local(p.clone()), size as u64 / 4).unwrap();
        parts_read_like_the_whole(&p, InputKind::Parquet, parts);
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(kind_of(Path::new("a.jsonl.gz")), Some(InputKind::Jsonl));
        assert_eq!(kind_of(Path::new("a.JSONL.zst")), Some(InputKind::Jsonl));
        assert_eq!(kind_of(Path::new("a.parquet")), Some(InputKind::Parquet));
        assert_eq!(kind_of(Path::new("x/a.txt")), Some(InputKind::Text));
        assert_eq!(kind_of(Path::new("a.csv")), None);
    }
}

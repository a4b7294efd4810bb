//! [`InputFile`]: one input file, on local disk or an object in a bucket (`s3://…`). Every
//! reader opens its files through it, so each format reads local files and objects alike:
//! `Read + Seek` (range requests for an object, a block at a time), the whole file, or
//! Parquet's chunks ([`ParquetChunks`], range requests for the footer and column chunks).

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};
use store::{ObjectInfo, ObjectReader};

/// An input file; an object carries what its listing said (size, tag, time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFile {
    Local(PathBuf),
    Object(ObjectInfo),
}

impl From<PathBuf> for InputFile {
    fn from(p: PathBuf) -> Self {
        InputFile::Local(p)
    }
}

impl std::fmt::Display for InputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputFile::Local(p) => write!(f, "{}", p.display()),
            InputFile::Object(o) => write!(f, "{}", o.url),
        }
    }
}

/// What readers read through: a local file or an object reader.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

impl PartialOrd for InputFile {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InputFile {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (InputFile::Local(a), InputFile::Local(b)) => a.cmp(b),
            (InputFile::Object(a), InputFile::Object(b)) => a.url.cmp(&b.url),
            (InputFile::Local(_), InputFile::Object(_)) => std::cmp::Ordering::Less,
            (InputFile::Object(_), InputFile::Local(_)) => std::cmp::Ordering::Greater,
        }
    }
}

impl InputFile {
    /// The file's name (last path segment), for telling its format.
    pub fn file_name(&self) -> String {
        match self {
            InputFile::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            InputFile::Object(o) => o.url.file_name().to_string(),
        }
    }

    /// The name of the directory (or key prefix segment) it is in.
    pub fn parent_name(&self) -> Option<String> {
        match self {
            InputFile::Local(p) => p
                .parent()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            InputFile::Object(o) => {
                let (dir, _) = o.url.key.rsplit_once('/')?;
                Some(dir.rsplit('/').next().unwrap_or(dir).to_string())
            }
        }
    }

    /// Its extension (after the last `.` of the name).
    pub fn extension(&self) -> Option<String> {
        let name = self.file_name();
        name.rsplit_once('.').map(|(_, e)| e.to_string())
    }

    /// The name it goes by in `source` columns and messages: a local file relative to the
    /// config's directory, an object by its URL.
    pub fn display(&self, base_dir: &Path) -> String {
        match self {
            InputFile::Local(p) => super::display_path(p, base_dir),
            InputFile::Object(o) => o.url.to_string(),
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> std::io::Result<u64> {
        match self {
            InputFile::Local(p) => Ok(std::fs::metadata(p)?.len()),
            InputFile::Object(o) => Ok(o.size),
        }
    }

    /// Opens it for reading (an object: fetched in blocks of `block` bytes as read).
    pub fn open_with_block(&self, block: u64) -> std::io::Result<Box<dyn ReadSeek>> {
        match self {
            InputFile::Local(p) => Ok(Box::new(File::open(p)?)),
            InputFile::Object(o) => Ok(Box::new(
                ObjectReader::new(o.url.clone(), o.size).with_block(block),
            )),
        }
    }

    pub fn open(&self) -> std::io::Result<Box<dyn ReadSeek>> {
        self.open_with_block(store::BLOCK)
    }

    /// The whole file.
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        match self {
            InputFile::Local(p) => std::fs::read(p),
            InputFile::Object(o) => Ok(o.url.get().map_err(std::io::Error::other)?.to_vec()),
        }
    }

    /// Parquet's view of the file.
    pub fn parquet_chunks(&self) -> std::io::Result<ParquetChunks> {
        Ok(match self {
            InputFile::Local(p) => ParquetChunks::File(File::open(p)?),
            InputFile::Object(o) => ParquetChunks::Object(o.clone()),
        })
    }
}

/// A Parquet file for the `parquet` crate's readers: a local file, or an object read by
/// range requests (the footer, then each column chunk it needs).
pub enum ParquetChunks {
    File(File),
    Object(ObjectInfo),
}

impl Length for ParquetChunks {
    fn len(&self) -> u64 {
        match self {
            ParquetChunks::File(f) => Length::len(f),
            ParquetChunks::Object(o) => o.size,
        }
    }
}

impl ChunkReader for ParquetChunks {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match self {
            ParquetChunks::File(f) => Ok(Box::new(f.get_read(start)?)),
            ParquetChunks::Object(o) => {
                let mut r = ObjectReader::new(o.url.clone(), o.size);
                r.seek(std::io::SeekFrom::Start(start))?;
                Ok(Box::new(r))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            ParquetChunks::File(f) => f.get_bytes(start, length),
            ParquetChunks::Object(o) => o
                .url
                .get_range(start..start + length as u64)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
    }
}

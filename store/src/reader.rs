//! [`ObjectReader`]: an object (or a byte range of one) as `Read + Seek`, fetched in blocks by
//! range requests, so a reader written for files reads a bucket with memory bounded by one
//! block, and a worker reads only its own range of a big object.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;

use crate::location::ObjectUrl;

/// Bytes fetched per range request.
pub const BLOCK: u64 = 8 << 20;

pub struct ObjectReader {
    url: ObjectUrl,
    /// The object's size (reads stop there).
    size: u64,
    pos: u64,
    /// Bytes `buf_start..buf_start + buf.len()` of the object.
    buf: Bytes,
    buf_start: u64,
    block: u64,
}

impl ObjectReader {
    /// A reader of `url`, whose size is `size` (from its listing or head).
    pub fn new(url: ObjectUrl, size: u64) -> Self {
        ObjectReader {
            url,
            size,
            pos: 0,
            buf: Bytes::new(),
            buf_start: 0,
            block: BLOCK,
        }
    }

    /// Fetches `block` bytes per request instead of [`BLOCK`].
    pub fn with_block(mut self, block: u64) -> Self {
        self.block = block.max(1);
        self
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos >= end {
            let to = (self.pos + self.block).min(self.size);
            self.buf = self
                .url
                .get_range(self.pos..to)
                .map_err(std::io::Error::other)?;
            self.buf_start = self.pos;
            if self.buf.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: object ended before its listed size {}",
                        self.url, self.size
                    ),
                ));
            }
        }
        let at = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf.len() - at);
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ObjectReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

//! Tokenize's share of each shard ([`pipeline::FinishPart`]): the documents a shard curated
//! are encoded where they were curated (every rank and worker), and their token ids written in
//! order to `OUT/work/finish/part-NNNNN`. The finish step on rank 0 then only packs: it
//! replays the parts in curated-file order, so the shards are the same bytes as encoding
//! `curated/` on one process, whatever the rank and worker count.
//!
//! ```text
//! part   = MAGIC tokenizer-hash(32 hex bytes) doc* END docs(u64) xxh3-64(u64, of all before)
//! doc    = domain-len(u32) domain(utf-8) n(u32) ids(n × u32)      (little-endian)
//! ```
//! A part that does not check out (cut short, another tokenizer, another document count than
//! its Parquet file) is not used: the step encodes that file's documents itself.

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use pipeline::document::{str_column, DOMAIN, TEXT};
use pipeline::{FinishPart, PartWriter, StageError};
use xxhash_rust::xxh3::Xxh3;

use crate::vocab::{encode_texts, Tok};

const MAGIC: &[u8; 8] = b"SLTOKP1\n";
const END: u32 = u32::MAX;
const HASH_LEN: usize = 32;

/// Writes one shard's token ids (see the module docs).
pub struct TokenPart {
    tok: Arc<Tok>,
    hash: Xxh3,
    docs: u64,
    started: bool,
}

impl TokenPart {
    pub fn new(tok: Arc<Tok>) -> Self {
        TokenPart {
            tok,
            hash: Xxh3::new(),
            docs: 0,
            started: false,
        }
    }

    fn put(&mut self, out: &mut PartWriter, bytes: &[u8]) -> Result<(), StageError> {
        self.hash.update(bytes);
        out.write_all(bytes)
    }
}

impl FinishPart for TokenPart {
    fn observe(&mut self, batch: &RecordBatch, out: &mut PartWriter) -> Result<(), StageError> {
        if !self.started {
            if self.tok.file_hash.len() != HASH_LEN {
                return Err(StageError::Internal(
                    "tokenizer hash is not 32 hex digits".into(),
                ));
            }
            self.started = true;
            let head = [&MAGIC[..], self.tok.file_hash.as_bytes()].concat();
            self.put(out, &head)?;
        }
        let text = str_column(batch, TEXT)?;
        let domain = str_column(batch, DOMAIN)?;
        let encoded =
            encode_texts(&self.tok, text).map_err(|e| StageError::Config(e.to_string()))?;
        let mut buf = Vec::new();
        for (i, ids) in encoded.iter().enumerate() {
            let d = domain.value(i).as_bytes();
            buf.clear();
            buf.extend_from_slice(&(d.len() as u32).to_le_bytes());
            buf.extend_from_slice(d);
            buf.extend_from_slice(&(ids.len() as u32).to_le_bytes());
            for id in ids {
                buf.extend_from_slice(&id.to_le_bytes());
            }
            self.put(out, &buf)?;
        }
        self.docs += text.len() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>, out: &mut PartWriter) -> Result<(), StageError> {
        let tail = [END.to_le_bytes().as_slice(), &self.docs.to_le_bytes()].concat();
        self.put(out, &tail)?;
        out.write_all(&self.hash.digest().to_le_bytes())
    }
}

/// Whether the part at `path` is whole, written with tokenizer `file_hash`, and holds `docs`
/// documents (one pass over the file; the replay is a second).
pub fn part_checks_out(path: &Path, file_hash: &str, docs: u64) -> bool {
    let check = || -> std::io::Result<bool> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        if len < (MAGIC.len() + HASH_LEN + 20) as u64 {
            return Ok(false);
        }
        let body = len - 8;
        let mut hash = Xxh3::new();
        let mut r = BufReader::with_capacity(1 << 20, (&mut f).take(body));
        let mut head = [0u8; 8 + HASH_LEN];
        r.read_exact(&mut head)?;
        hash.update(&head);
        let mut buf = vec![0u8; 1 << 20];
        let mut tail = Vec::with_capacity(12);
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            tail.extend_from_slice(&buf[..n]);
            let keep = tail.len().saturating_sub(12);
            tail.drain(..keep);
        }
        let mut sum = [0u8; 8];
        f.read_exact(&mut sum)?;
        let count = u64::from_le_bytes(tail[4..12].try_into().expect("12 bytes"));
        Ok(&head[..8] == MAGIC
            && &head[8..] == file_hash.as_bytes()
            && tail[..4] == END.to_le_bytes()
            && count == docs
            && hash.digest().to_le_bytes() == sum)
    };
    check().unwrap_or(false)
}

/// Replays a part that [`part_checks_out`]: `each(domain, ids)` per document, in order.
pub fn replay_part(
    path: &Path,
    mut each: impl FnMut(&str, &[u32]) -> Result<(), crate::TokenizeError>,
) -> Result<(), crate::TokenizeError> {
    let io = |e| crate::TokenizeError::io(path, e);
    let f = std::fs::File::open(path).map_err(io)?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut head = [0u8; 8 + HASH_LEN];
    r.read_exact(&mut head).map_err(io)?;
    let (mut domain, mut ids, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let n = read_u32(&mut r).map_err(io)?;
        if n == END {
            return Ok(());
        }
        domain.resize(n as usize, 0);
        r.read_exact(&mut domain).map_err(io)?;
        let len = read_u32(&mut r).map_err(io)? as usize;
        raw.resize(len * 4, 0);
        r.read_exact(&mut raw).map_err(io)?;
        ids.clear();
        ids.extend(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))),
        );
        let d = std::str::from_utf8(&domain)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        each(d, &ids)?;
    }
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use pipeline::writer::{PartSink, PendingFiles};

    use super::*;

    fn tok(dir: &Path) -> Tok {
        let texts = [
            "the river runs north",
            "山水风月花 poems",
            "def f(x):\n    return x",
        ];
        let path = dir.join("tokenizer.json");
        let special = vec!["<|endoftext|>".to_string()];
        crate::train_bpe(texts.iter().map(|t| t.to_string()), 300, &special, &path).unwrap();
        Tok::load(&path, "<|endoftext|>", None).unwrap()
    }

    fn batch(rows: &[(&str, &str)]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, false),
            Field::new("domain", DataType::Utf8, false),
        ]);
        let text = StringArray::from_iter_values(rows.iter().map(|r| r.0));
        let domain = StringArray::from_iter_values(rows.iter().map(|r| r.1));
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(text), Arc::new(domain)]).unwrap()
    }

    /// A part replays each document's ids and domain in order; one cut short, of another
    /// tokenizer or another document count is not used.
    #[test]
    fn parts_replay_in_order_and_damaged_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tok = Arc::new(tok(dir.path()));
        let rows = [
            ("the river", "web"),
            ("山水 poems", "zh"),
            ("", "web"),
            ("return x", "code"),
        ];
        let path = dir.path().join("part-00000");
        let mut sink = PartSink::new(
            "tokenize",
            path.clone(),
            Box::new(TokenPart::new(tok.clone())),
        );
        sink.write(&batch(&rows[..2])).unwrap();
        sink.write(&batch(&rows[2..])).unwrap();
        let mut pending = PendingFiles::default();
        sink.finish(&mut pending).unwrap();
        pending.commit().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(part_checks_out(&path, &tok.file_hash, 4));
        let mut seen = Vec::new();
        replay_part(&path, |d, ids| {
            seen.push((d.to_string(), ids.to_vec()));
            Ok(())
        })
        .unwrap();
        let want: Vec<_> = rows
            .iter()
            .map(|(t, d)| (d.to_string(), tok.encode(t).unwrap()))
            .collect();
        assert_eq!(seen, want);
        assert!(!part_checks_out(&path, &tok.file_hash, 5));
        assert!(!part_checks_out(&path, &"0".repeat(32), 4));
        for cut in [1, 8, bytes.len() / 2] {
            std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
            assert!(!part_checks_out(&path, &tok.file_hash, 4), "cut {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[60] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(!part_checks_out(&path, &tok.file_hash, 4));
    }
}

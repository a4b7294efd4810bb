//! A domain's documents as token sequences, read back from its packed shards in manifest
//! order: the rows' real tokens are one stream, cut where `doc_starts` says a document
//! begins. Each document ends with the run's EOS (as Megatron's `--append-eod` writes
//! it); with `remainder = "drop"` the last document may lack it. One shard is mapped at a
//! time, so memory holds one document and one mapping.

use std::path::{Path, PathBuf};

use feed::shard::Shard;

use crate::error::ExportError;

/// A row's real tokens and where documents start in it.
type Row = (Vec<u32>, Vec<u32>);

pub struct DomainDocs {
    shards: Vec<PathBuf>,
    row_len: usize,
    next_shard: usize,
    cur: Option<Shard>,
    row: usize,
    /// Tokens of the document being assembled (it may span rows and shards).
    doc: Vec<u32>,
    /// Documents a row finished, not handed out yet.
    pending: std::collections::VecDeque<Vec<u32>>,
    done: bool,
}

impl DomainDocs {
    pub fn new(shards: Vec<PathBuf>, row_len: usize) -> Self {
        DomainDocs {
            shards,
            row_len,
            next_shard: 0,
            cur: None,
            row: 0,
            doc: Vec::new(),
            pending: Default::default(),
            done: false,
        }
    }

    /// The next packed row's real tokens (padding left out), for formats whose samples are
    /// the run's rows. Not to be mixed with [`next_doc`](Self::next_doc) on one reader.
    pub fn next_row_tokens(&mut self) -> Result<Option<Vec<u32>>, ExportError> {
        Ok(self.next_row()?.map(|(ids, _)| ids))
    }

    /// The next row (its real tokens and document starts), opening shards as needed.
    fn next_row(&mut self) -> Result<Option<Row>, ExportError> {
        loop {
            if let Some(s) = &self.cur {
                if self.row < s.rows() {
                    let r = self.row;
                    self.row += 1;
                    let ids = s.ids(r)[..s.valid_len(r)].to_vec();
                    return Ok(Some((ids, s.doc_starts(r))));
                }
            }
            let Some(path) = self.shards.get(self.next_shard) else {
                return Ok(None);
            };
            self.cur = Some(Shard::open(path, self.row_len)?);
            self.next_shard += 1;
            self.row = 0;
        }
    }

    /// The next document's tokens.
    pub fn next_doc(&mut self) -> Result<Option<Vec<u32>>, ExportError> {
        loop {
            if let Some(d) = self.pending.pop_front() {
                return Ok(Some(d));
            }
            if self.done {
                return Ok((!self.doc.is_empty()).then(|| std::mem::take(&mut self.doc)));
            }
            match self.next_row()? {
                None => self.done = true,
                Some((ids, starts)) => {
                    let mut at = 0usize;
                    for &s in &starts {
                        let s = (s as usize).min(ids.len());
                        self.doc.extend_from_slice(&ids[at..s]);
                        at = s;
                        if !self.doc.is_empty() {
                            self.pending.push_back(std::mem::take(&mut self.doc));
                        }
                    }
                    self.doc.extend_from_slice(&ids[at..]);
                }
            }
        }
    }
}

/// The shard files of `domain` in a local manifest at `manifest` (paths as listed).
pub fn shard_paths(manifest: &Path, shards: &[feed::manifest::ShardEntry]) -> Vec<PathBuf> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    shards.iter().map(|s| dir.join(&s.path)).collect()
}

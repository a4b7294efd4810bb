//! Packs a stream of documents into rows of exactly `row_len` tokens: each document's tokens
//! followed by EOS, rows cut wherever they fill, so no token is lost or repeated. Each row
//! records where documents start in it, so a trainer can reset positions and mask attention
//! across documents. The last partial row of a stream is padded (its `valid_len` says how
//! many tokens are real) or, on request, dropped.

/// One packed row.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedRow {
    pub ids: Vec<u32>,
    /// Offsets in `ids` where a document's first token sits.
    pub doc_starts: Vec<u32>,
    /// Real tokens in `ids` (the rest is padding); `row_len` except in a final padded row.
    pub valid_len: u32,
}

pub struct Packer {
    row_len: usize,
    eos: u32,
    cur: Vec<u32>,
    starts: Vec<u32>,
    docs: u64,
    tokens: u64,
}

impl Packer {
    pub fn new(row_len: usize, eos: u32) -> Self {
        assert!(row_len >= 2, "a row holds at least an input and a target");
        Packer {
            row_len,
            eos,
            cur: Vec::with_capacity(row_len),
            starts: Vec::new(),
            docs: 0,
            tokens: 0,
        }
    }

    /// Adds a document (its tokens, EOS is appended) and returns the rows it completed.
    pub fn push(&mut self, doc: &[u32], out: &mut Vec<PackedRow>) {
        self.docs += 1;
        self.tokens += doc.len() as u64 + 1;
        self.starts.push(self.cur.len() as u32);
        let mut rest = doc;
        loop {
            let room = self.row_len - self.cur.len();
            if rest.len() < room {
                self.cur.extend_from_slice(rest);
                break;
            }
            self.cur.extend_from_slice(&rest[..room]);
            rest = &rest[room..];
            self.emit(out);
        }
        self.cur.push(self.eos);
        if self.cur.len() == self.row_len {
            self.emit(out);
        }
    }

    fn emit(&mut self, out: &mut Vec<PackedRow>) {
        let ids = std::mem::replace(&mut self.cur, Vec::with_capacity(self.row_len));
        out.push(PackedRow {
            valid_len: ids.len() as u32,
            ids,
            doc_starts: std::mem::take(&mut self.starts),
        });
    }

    /// Ends the stream: the partial row, padded with `pad` to full length, if any.
    pub fn finish(mut self, pad: u32) -> Option<PackedRow> {
        if self.cur.is_empty() {
            return None;
        }
        let valid = self.cur.len() as u32;
        self.cur.resize(self.row_len, pad);
        let mut out = Vec::new();
        self.emit(&mut out);
        let mut row = out.pop().expect("emitted one");
        row.valid_len = valid;
        Some(row)
    }

    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Tokens pushed so far, EOS included.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rows_are_cut_where_they_fill() {
        let mut p = Packer::new(4, 0);
        let mut rows = vec![];
        p.push(&[1, 2], &mut rows); // 1 2 E
        p.push(&[3, 4, 5, 6], &mut rows); // | 3 ... row0 = 1 2 E 3
        assert_eq!(
            rows[0],
            PackedRow {
                ids: vec![1, 2, 0, 3],
                doc_starts: vec![0, 3],
                valid_len: 4
            }
        );
        // 4 5 6 E fills the second row exactly: nothing is left to pad.
        assert_eq!(
            rows[1],
            PackedRow {
                ids: vec![4, 5, 6, 0],
                doc_starts: vec![],
                valid_len: 4
            }
        );
        assert_eq!(p.finish(9), None);
        let mut p = Packer::new(4, 0);
        let mut rows = vec![];
        p.push(&[7], &mut rows);
        assert!(rows.is_empty());
        assert_eq!(
            p.finish(9),
            Some(PackedRow {
                ids: vec![7, 0, 9, 9],
                doc_starts: vec![0],
                valid_len: 2
            })
        );
    }

    proptest! {
        /// Concatenating the rows' valid tokens gives back every document followed by EOS,
        /// and doc_starts point at exactly the documents' first tokens.
        #[test]
        fn nothing_lost_or_repeated(docs in proptest::collection::vec(proptest::collection::vec(1u32..100, 0..20), 0..30), row_len in 2usize..12) {
            let mut p = Packer::new(row_len, 0);
            let mut rows = vec![];
            for d in &docs { p.push(d, &mut rows); }
            let total = p.tokens();
            rows.extend(p.finish(u32::MAX));
            let mut stream = vec![];
            let mut starts = vec![];
            for r in &rows {
                prop_assert_eq!(r.ids.len(), row_len);
                for s in &r.doc_starts { starts.push(stream.len() + *s as usize); }
                stream.extend_from_slice(&r.ids[..r.valid_len as usize]);
                prop_assert!(r.ids[r.valid_len as usize..].iter().all(|t| *t == u32::MAX));
            }
            let mut expected = vec![];
            let mut expected_starts = vec![];
            for d in &docs { expected_starts.push(expected.len()); expected.extend_from_slice(d); expected.push(0); }
            prop_assert_eq!(stream.len() as u64, total);
            prop_assert_eq!(stream, expected);
            prop_assert_eq!(starts, expected_starts);
        }
    }
}

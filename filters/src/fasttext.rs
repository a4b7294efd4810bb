//! fastText supervised models (`.bin` and quantised `.ftz`, format version 11 and 12) read
//! and applied in Rust, as fastText 0.9.2 does it: the dictionary with its FNV-1a hashes,
//! character n-grams (`minn..maxn`, with the pruned-bucket map of a quantised model), word
//! n-grams over the line's word hashes, the average of input rows (dense or product-quantised
//! with quantised norms) and the output layer (softmax, hierarchical softmax over the
//! label-count Huffman tree, one-vs-all / negative sampling sigmoids). `predict` matches
//! fastText's `predict` (a line is its words and the end-of-line token; probabilities are
//! `p + 1e-5`, as fastText reports `exp(log(p + 1e-5))`).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const MAGIC: i32 = 793_712_314;
const EOS: &str = "</s>";
const KSUB: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum FastTextError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a fastText model ({reason})")]
    NotFastText { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
}

/// Whether `path` starts with fastText's magic number.
pub fn is_fasttext(path: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| i32::from_le_bytes(head) == MAGIC)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Loss {
    Hs,
    Ns,
    Softmax,
    Ova,
}

/// A product quantizer (8 bits per sub-vector).
#[derive(Debug)]
struct Pq {
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl Pq {
    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let i = code as usize;
        match m == self.nsubq - 1 {
            true => {
                let at = m * KSUB * self.dsub + i * self.lastdsub;
                &self.centroids[at..at + self.lastdsub]
            }
            false => {
                let at = (m * KSUB + i) * self.dsub;
                &self.centroids[at..at + self.dsub]
            }
        }
    }
}

#[derive(Debug)]
enum Matrix {
    Dense {
        n: usize,
        data: Vec<f32>,
    },
    Quant {
        codes: Vec<u8>,
        pq: Pq,
        norms: Option<(Vec<u8>, Pq)>,
    },
}

impl Matrix {
    fn norm(&self, i: usize) -> f32 {
        match self {
            Matrix::Quant {
                norms: Some((codes, npq)),
                ..
            } => npq.centroid(0, codes[i])[0],
            _ => 1.0,
        }
    }

    fn add_row(&self, x: &mut [f32], i: usize) {
        match self {
            Matrix::Dense { n, data } => {
                for (v, w) in x.iter_mut().zip(&data[i * n..(i + 1) * n]) {
                    *v += w;
                }
            }
            Matrix::Quant { codes, pq, .. } => {
                let a = self.norm(i);
                let code = &codes[pq.nsubq * i..pq.nsubq * (i + 1)];
                for (m, &c) in code.iter().enumerate() {
                    let at = m * pq.dsub;
                    for (v, w) in x[at..].iter_mut().zip(pq.centroid(m, c)) {
                        *v += a * w;
                    }
                }
            }
        }
    }

    fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match self {
            Matrix::Dense { n, data } => {
                let mut d = 0.0f32;
                for (v, w) in x.iter().zip(&data[i * n..(i + 1) * n]) {
                    d += w * v;
                }
                d
            }
            Matrix::Quant { codes, pq, .. } => {
                let code = &codes[pq.nsubq * i..pq.nsubq * (i + 1)];
                let mut d = 0.0f32;
                for (m, &c) in code.iter().enumerate() {
                    let at = m * pq.dsub;
                    for (v, w) in x[at..].iter().zip(pq.centroid(m, c)) {
                        d += v * w;
                    }
                }
                d * self.norm(i)
            }
        }
    }
}

/// A loaded fastText supervised model.
#[derive(Debug)]
pub struct FastText {
    dim: usize,
    word_ngrams: usize,
    loss: Loss,
    bucket: u64,
    minn: usize,
    maxn: usize,
    label_prefix: String,
    words: HashMap<Vec<u8>, i32>,
    /// Per word id: its input rows (the word, then its character n-grams).
    subwords: Vec<Vec<i32>>,
    nwords: usize,
    labels: Vec<String>,
    prune: Option<HashMap<i32, i32>>,
    input: Matrix,
    output: Matrix,
    /// Hierarchical softmax: (left, right) children of the inner nodes `nlabels..`.
    tree: Vec<(i32, i32)>,
}

/// A little-endian reader over the model file, naming it in errors.
struct In<'a> {
    b: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FastTextError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(FastTextError::NotFastText {
                path: self.path.into(),
                reason: format!("truncated at byte {} (wanted {n} more)", self.at),
            });
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn i32(&mut self) -> Result<i32, FastTextError> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn i64(&mut self) -> Result<i64, FastTextError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn u8(&mut self) -> Result<u8, FastTextError> {
        Ok(self.take(1)?[0])
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, FastTextError> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| self.bad("size overflow"))?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    fn bad(&self, reason: &str) -> FastTextError {
        FastTextError::NotFastText {
            path: self.path.into(),
            reason: format!("{reason} (at byte {})", self.at),
        }
    }
    /// A count that must lie in `0..=max`.
    fn count(&mut self, v: i64, max: i64, what: &str) -> Result<usize, FastTextError> {
        match (0..=max).contains(&v) {
            true => Ok(v as usize),
            false => Err(self.bad(&format!("{what} = {v} is out of range"))),
        }
    }

    fn pq(&mut self) -> Result<Pq, FastTextError> {
        let dim = self.i32()? as i64;
        let dim = self.count(dim, 1 << 20, "pq dim")?;
        let (nsubq, dsub, lastdsub) = (self.i32()? as i64, self.i32()? as i64, self.i32()? as i64);
        let nsubq = self.count(nsubq, 1 << 20, "nsubq")?;
        let dsub = self.count(dsub, 1 << 20, "dsub")?;
        let lastdsub = self.count(lastdsub, 1 << 20, "lastdsub")?;
        if nsubq == 0 || dsub == 0 || (nsubq - 1) * dsub + lastdsub != dim {
            return Err(self.bad("inconsistent product quantizer"));
        }
        Ok(Pq {
            nsubq,
            dsub,
            lastdsub,
            centroids: self.f32s(dim * KSUB)?,
        })
    }

    fn matrix(&mut self, quant: bool) -> Result<(Matrix, usize, usize), FastTextError> {
        if !quant {
            let (m, n) = (self.i64()?, self.i64()?);
            let (m, n) = (
                self.count(m, 1 << 31, "rows")?,
                self.count(n, 1 << 16, "dim")?,
            );
            let data = self.f32s(m.checked_mul(n).ok_or_else(|| self.bad("size overflow"))?)?;
            return Ok((Matrix::Dense { n, data }, m, n));
        }
        let qnorm = self.u8()? != 0;
        let (m, n) = (self.i64()?, self.i64()?);
        let (m, n) = (
            self.count(m, 1 << 31, "rows")?,
            self.count(n, 1 << 16, "dim")?,
        );
        let codesize = self.i32()? as i64;
        let codesize = self.count(codesize, i32::MAX as i64, "codesize")?;
        let codes = self.take(codesize)?.to_vec();
        let pq = self.pq()?;
        if codesize != m * pq.nsubq || (pq.nsubq - 1) * pq.dsub + pq.lastdsub != n {
            return Err(self.bad("quantised matrix does not match its quantizer"));
        }
        let norms = match qnorm {
            true => {
                let c = self.take(m)?.to_vec();
                Some((c, self.pq()?))
            }
            false => None,
        };
        Ok((Matrix::Quant { codes, pq, norms }, m, n))
    }
}

/// fastText's string hash (FNV-1a over the bytes taken as signed chars).
fn hash(s: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in s {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

impl FastText {
    pub fn load(path: &Path) -> Result<FastText, FastTextError> {
        let bytes = std::fs::read(path).map_err(|e| FastTextError::Io {
            path: path.into(),
            source: e,
        })?;
        let mut r = In {
            b: &bytes,
            at: 0,
            path,
        };
        if bytes.len() < 8 || r.i32()? != MAGIC {
            return Err(FastTextError::NotFastText {
                path: path.into(),
                reason: "no fastText magic number".into(),
            });
        }
        let version = r.i32()?;
        if !(11..=12).contains(&version) {
            return Err(r.bad(&format!("format version {version}; this reads 11 and 12")));
        }
        let mut args = [0i32; 12];
        for a in &mut args {
            *a = r.i32()?;
        }
        r.take(8)?; // t (sampling threshold), unused here
        let [dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr] =
            args;
        if model != 3 {
            return Err(FastTextError::Unsupported {
                path: path.into(),
                reason: "an unsupervised (word vector) model; a classifier needs a supervised one"
                    .into(),
            });
        }
        let loss = match loss {
            1 => Loss::Hs,
            2 => Loss::Ns,
            3 => Loss::Softmax,
            4 => Loss::Ova,
            l => return Err(r.bad(&format!("unknown loss {l}"))),
        };
        let maxn = if version == 11 {
            0
        } else {
            maxn.max(0) as usize
        };
        let mut ft = FastText::dictionary(&mut r, loss, word_ngrams, bucket, minn, maxn)?;
        let quant = r.u8()? != 0;
        let (input, rows, d) = r.matrix(quant)?;
        if ft.prune.is_some() && !quant {
            return Err(r.bad("a pruned dictionary needs a quantised input matrix"));
        }
        let qout = r.u8()? != 0;
        let (output, orows, od) = r.matrix(quant && qout)?;
        if d != dim as usize || od != d || orows != ft.labels.len() {
            return Err(r.bad(&format!(
                "matrices {rows}x{d} and {orows}x{od} do not fit dim {dim} and {} labels",
                ft.labels.len()
            )));
        }
        if r.at != bytes.len() {
            return Err(r.bad("trailing bytes after the output matrix"));
        }
        ft.dim = d;
        ft.input = input;
        ft.output = output;
        ft.check_rows(rows, path)?;
        Ok(ft)
    }

    /// Every row the dictionary can name exists in the input matrix.
    fn check_rows(&self, rows: usize, path: &Path) -> Result<(), FastTextError> {
        let need = match &self.prune {
            Some(p) => self.nwords + p.values().map(|&v| v as usize + 1).max().unwrap_or(0),
            None => self.nwords + self.bucket as usize,
        };
        match rows >= need {
            true => Ok(()),
            false => Err(FastTextError::NotFastText {
                path: path.into(),
                reason: format!("the input matrix has {rows} rows; the dictionary needs {need}"),
            }),
        }
    }

    fn dictionary(
        r: &mut In,
        loss: Loss,
        word_ngrams: i32,
        bucket: i32,
        minn: i32,
        maxn: usize,
    ) -> Result<FastText, FastTextError> {
        let size = r.i32()? as i64;
        let size = r.count(size, 1 << 30, "dictionary size")?;
        let (nwords, nlabels) = (r.i32()? as i64, r.i32()? as i64);
        let nwords = r.count(nwords, size as i64, "nwords")?;
        let nlabels = r.count(nlabels, size as i64, "nlabels")?;
        let _ntokens = r.i64()?;
        let prune_size = r.i64()?;
        let mut words = HashMap::with_capacity(nwords);
        let (mut names, mut labels, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..size {
            let end = r.b[r.at..].iter().position(|&c| c == 0);
            let w = r
                .take(end.ok_or_else(|| r.bad("unterminated dictionary entry"))?)?
                .to_vec();
            r.take(1)?;
            let count = r.i64()?;
            match (r.u8()?, i < nwords) {
                (0, true) => {
                    words.insert(w.clone(), i as i32);
                    names.push(w);
                }
                (1, false) => {
                    labels.push(String::from_utf8_lossy(&w).into_owned());
                    counts.push(count);
                }
                (t, _) => return Err(r.bad(&format!("entry {i} has type {t} out of place"))),
            }
        }
        if labels.len() != nlabels || nlabels == 0 {
            return Err(r.bad("a supervised model needs labels"));
        }
        let prune = match prune_size {
            p if p < 0 => None,
            p => {
                let p = r.count(p, 1 << 31, "pruned buckets")?;
                let mut m = HashMap::with_capacity(p);
                for _ in 0..p {
                    let (a, b) = (r.i32()?, r.i32()?);
                    if b < 0 {
                        return Err(r.bad("a negative pruned-bucket row"));
                    }
                    m.insert(a, b);
                }
                Some(m)
            }
        };
        let mut ft = FastText {
            dim: 0,
            word_ngrams: word_ngrams.max(1) as usize,
            loss,
            bucket: bucket.max(0) as u64,
            minn: minn.max(0) as usize,
            maxn,
            label_prefix: "__label__".into(),
            words,
            subwords: Vec::with_capacity(nwords),
            nwords,
            labels,
            prune,
            input: Matrix::Dense { n: 0, data: vec![] },
            output: Matrix::Dense { n: 0, data: vec![] },
            tree: Vec::new(),
        };
        for (i, w) in names.iter().enumerate() {
            let mut ids = vec![i as i32];
            if w != EOS.as_bytes() {
                ft.char_ngrams(w, &mut ids);
            }
            ft.subwords.push(ids);
        }
        if loss == Loss::Hs {
            ft.tree = huffman(&counts);
        }
        Ok(ft)
    }

    /// The labels, without their `__label__` prefix, in the model's order.
    pub fn labels(&self) -> Vec<String> {
        self.labels
            .iter()
            .map(|l| self.strip(l).to_string())
            .collect()
    }

    /// Label `i` (in [`labels`](Self::labels) order), without its prefix.
    pub fn label_at(&self, i: usize) -> &str {
        self.strip(&self.labels[i])
    }

    pub fn num_labels(&self) -> usize {
        self.labels.len()
    }

    fn strip<'a>(&self, l: &'a str) -> &'a str {
        l.strip_prefix(self.label_prefix.as_str()).unwrap_or(l)
    }

    fn push_hash(&self, out: &mut Vec<i32>, id: i32) {
        if id < 0 {
            return;
        }
        let id = match &self.prune {
            Some(p) => match p.get(&id) {
                Some(&v) => v,
                None => return,
            },
            None => id,
        };
        out.push(self.nwords as i32 + id);
    }

    /// The bucket rows of `<word>`'s character n-grams.
    fn char_ngrams(&self, word: &[u8], out: &mut Vec<i32>) {
        if self.maxn == 0 || self.bucket == 0 {
            return;
        }
        let mut w = Vec::with_capacity(word.len() + 2);
        w.push(b'<');
        w.extend_from_slice(word);
        w.push(b'>');
        for i in 0..w.len() {
            if w[i] & 0xC0 == 0x80 {
                continue;
            }
            let (mut j, mut n) = (i, 1);
            while j < w.len() && n <= self.maxn {
                j += 1;
                while j < w.len() && w[j] & 0xC0 == 0x80 {
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == w.len())) {
                    let h = hash(&w[i..j]) as u64 % self.bucket;
                    self.push_hash(out, h as i32);
                }
                n += 1;
            }
        }
    }

    /// The input rows of one line (its words as fastText splits them, then `</s>`).
    fn line_rows(&self, text: &str) -> Vec<i32> {
        let (mut rows, mut hashes) = (Vec::new(), Vec::new());
        let seps = |c: char| matches!(c, ' ' | '\n' | '\r' | '\t' | '\x0B' | '\x0C' | '\0');
        let tokens = text.split(seps).filter(|t| !t.is_empty()).chain([EOS]);
        for tok in tokens {
            let b = tok.as_bytes();
            let h = hash(b);
            match self.words.get(b) {
                Some(&wid) => rows.extend_from_slice(&self.subwords[wid as usize]),
                None if tok.starts_with(self.label_prefix.as_str()) => continue,
                None if tok == EOS => {}
                None => self.char_ngrams(b, &mut rows),
            }
            hashes.push(h as i32);
        }
        if self.bucket > 0 {
            for i in 0..hashes.len() {
                let mut h = hashes[i] as i64 as u64;
                for &hj in hashes.iter().take(i + self.word_ngrams).skip(i + 1) {
                    h = h.wrapping_mul(116_049_371).wrapping_add(hj as i64 as u64);
                    self.push_hash(&mut rows, (h % self.bucket) as i32);
                }
            }
        }
        rows
    }

    fn hidden(&self, rows: &[i32]) -> Vec<f32> {
        let mut h = vec![0f32; self.dim];
        for &r in rows {
            self.input.add_row(&mut h, r as usize);
        }
        let a = (1.0f64 / rows.len().max(1) as f64) as f32;
        h.iter_mut().for_each(|v| *v *= a);
        h
    }

    /// The `k` most likely labels of one line with probability at least `threshold`, most
    /// likely first, as fastText's `predict` gives them (a new line ends the text as it
    /// does fastText's line; pass text without one). Labels without their prefix.
    pub fn predict(&self, text: &str, k: usize, threshold: f32) -> Vec<(String, f32)> {
        let line = text.split('\n').next().unwrap_or("");
        self.predict_ids(line, k, threshold)
            .into_iter()
            .map(|(i, p)| (self.label_at(i).to_string(), p))
            .collect()
    }

    /// [`predict`](Self::predict) with label indexes, on the whole of `text` as one line: its
    /// new lines separate words as spaces do (how DCLM and datatrove feed a document).
    pub fn predict_ids(&self, text: &str, k: usize, threshold: f32) -> Vec<(usize, f32)> {
        let rows = self.line_rows(text);
        if rows.is_empty() || k == 0 {
            return Vec::new();
        }
        let hidden = self.hidden(&rows);
        let mut best: Vec<(f32, usize)> = match self.loss {
            Loss::Hs => {
                let mut heap = Vec::new();
                let root = 2 * self.labels.len() - 2;
                self.dfs(k, threshold, root, 0.0, &mut heap, &hidden);
                heap
            }
            _ => self.flat(&hidden, threshold),
        };
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        best.truncate(k);
        best.into_iter().map(|(s, i)| (i, s.exp())).collect()
    }

    /// Softmax or sigmoid outputs: (log(p + 1e-5), label) of those at or above threshold.
    fn flat(&self, hidden: &[f32], threshold: f32) -> Vec<(f32, usize)> {
        let n = self.labels.len();
        let mut out: Vec<f32> = (0..n).map(|i| self.output.dot_row(hidden, i)).collect();
        if self.loss == Loss::Softmax {
            let max = out.iter().copied().fold(out[0], f32::max);
            let mut z = 0f32;
            for v in out.iter_mut() {
                *v = (*v - max).exp();
                z += *v;
            }
            out.iter_mut().for_each(|v| *v /= z);
        } else {
            out.iter_mut().for_each(|v| *v = sigmoid(*v));
        }
        out.iter()
            .enumerate()
            .filter(|(_, &p)| p >= threshold)
            .map(|(i, &p)| (std_log(p), i))
            .collect()
    }

    fn dfs(
        &self,
        k: usize,
        threshold: f32,
        node: usize,
        score: f32,
        heap: &mut Vec<(f32, usize)>,
        hidden: &[f32],
    ) {
        if score < std_log(threshold) {
            return;
        }
        let worst = |h: &Vec<(f32, usize)>| h.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
        if heap.len() == k && score < worst(heap) {
            return;
        }
        let nl = self.labels.len();
        if node < nl {
            heap.push((score, node));
            if heap.len() > k {
                let (i, _) = heap
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
                    .expect("not empty");
                heap.swap_remove(i);
            }
            return;
        }
        let f = sigmoid(self.output.dot_row(hidden, node - nl));
        let (left, right) = self.tree[node - nl];
        self.dfs(
            k,
            threshold,
            left as usize,
            score + std_log(1.0 - f),
            heap,
            hidden,
        );
        self.dfs(
            k,
            threshold,
            right as usize,
            score + std_log(f),
            heap,
            hidden,
        );
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn std_log(x: f32) -> f32 {
    (x + 1e-5).ln()
}

/// fastText's Huffman tree over label counts (labels sorted by falling count): the
/// children of inner nodes `n..2n-1`.
fn huffman(counts: &[i64]) -> Vec<(i32, i32)> {
    let n = counts.len();
    let mut count: Vec<i64> = counts.to_vec();
    count.resize(2 * n - 1, 1_000_000_000_000_000);
    let mut tree = vec![(-1, -1); n.saturating_sub(1)];
    let (mut leaf, mut node) = (n as i64 - 1, n);
    for i in n..2 * n - 1 {
        let mut mini = [0usize; 2];
        for m in &mut mini {
            if leaf >= 0 && count[leaf as usize] < count[node] {
                *m = leaf as usize;
                leaf -= 1;
            } else {
                *m = node;
                node += 1;
            }
        }
        tree[i - n] = (mini[0] as i32, mini[1] as i32);
        count[i] = count[mini[0]] + count[mini[1]];
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fasttexts() {
        // Values from fastText's Dictionary::hash (signed-char FNV-1a).
        assert_eq!(hash(b""), 2_166_136_261);
        assert_eq!(hash(b"a"), 0xe40c292c);
        // A byte over 0x7f is sign-extended before the xor.
        assert_ne!(hash("é".as_bytes()), hash(b"\xc3\x29"));
    }

    #[test]
    fn foreign_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        std::fs::write(&p, b"SLUICECLS1\nnot fasttext").unwrap();
        assert!(!is_fasttext(&p));
        let e = FastText::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("m.bin") && e.contains("not a fastText model"),
            "{e}"
        );
        let mut b = MAGIC.to_le_bytes().to_vec();
        b.extend_from_slice(&12i32.to_le_bytes());
        b.extend_from_slice(&[0u8; 20]);
        std::fs::write(&p, &b).unwrap();
        assert!(is_fasttext(&p));
        let e = FastText::load(&p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}

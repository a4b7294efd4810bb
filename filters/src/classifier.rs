//! A small trainable text classifier in the fastText spirit: hashed word uni- and bigrams
//! (character uni- and bigrams for CJK) into a fixed number of buckets, L2-normalised, a softmax linear
//! model trained by SGD with a linearly decaying learning rate, deterministic for a given
//! input order. `sluice classifier train` fits it from labelled JSON lines; the `classifier`
//! stage applies it (columns `classifier_label`, `classifier_prob`; optional relabel/keep).
//!
//! Model file: `SLUICECLS1\n`, a u32 LE header length, a JSON header (labels, buckets),
//! then `buckets × labels` f32 LE weights and `labels` f32 LE biases.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use pipeline::document::DOMAIN;
use pipeline::stage::parse_stage_table;
use pipeline::{ColumnType, Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::text::is_cjk;

const MAGIC: &[u8] = b"SLUICECLS1\n";

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a sluice classifier model ({reason})")]
    BadModel { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    BadRecord {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    FastText(#[from] crate::fasttext::FastTextError),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Header {
    labels: Vec<String>,
    buckets: u32,
}

/// Hashed feature ids of a text (lower-cased words and bigrams; CJK characters and bigrams).
pub fn features(text: &str, buckets: u32) -> Vec<u32> {
    let lower = text.to_lowercase();
    let mut toks: Vec<&str> = Vec::new();
    for w in lower.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() {
            continue;
        }
        if w.chars().any(is_cjk) {
            let mut start = 0;
            for (i, c) in w.char_indices() {
                if is_cjk(c) {
                    if start < i {
                        toks.push(&w[start..i]);
                    }
                    toks.push(&w[i..i + c.len_utf8()]);
                    start = i + c.len_utf8();
                }
            }
            if start < w.len() {
                toks.push(&w[start..]);
            }
        } else {
            toks.push(w);
        }
    }
    let mut out = Vec::with_capacity(toks.len() * 2);
    for (i, t) in toks.iter().enumerate() {
        out.push((xxh3_64_with_seed(t.as_bytes(), 1) % buckets as u64) as u32);
        if let Some(next) = toks.get(i + 1) {
            let h = xxh3_64_with_seed(next.as_bytes(), xxh3_64_with_seed(t.as_bytes(), 2));
            out.push((h % buckets as u64) as u32);
        }
    }
    out
}

/// The trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct TextClassifier {
    header: Header,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub buckets: u32,
    pub seed: u64,
    /// Weight each example by N / (labels × examples of its label), so rare labels count.
    pub balanced: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 20,
            learning_rate: 0.5,
            buckets: 1 << 18,
            seed: 42,
            balanced: true,
        }
    }
}

/// The most probable label's index and probability (ties: the first label).
fn best(p: &[f32]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .expect("a model has labels")
}

fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

impl TextClassifier {
    pub fn labels(&self) -> &[String] {
        &self.header.labels
    }

    /// Trains on (text, label) pairs in the given order.
    pub fn train(
        examples: &[(String, String)],
        opts: &TrainOptions,
    ) -> Result<Self, ClassifierError> {
        if opts.buckets == 0 || opts.epochs == 0 {
            return Err(ClassifierError::Invalid(
                "buckets and epochs must be at least 1".into(),
            ));
        }
        let mut labels: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(ClassifierError::Invalid(format!(
                "training needs at least two labels, found {}",
                labels.len()
            )));
        }
        let k = labels.len();
        let data: Vec<(Vec<u32>, usize)> = examples
            .iter()
            .map(|(t, l)| {
                (
                    features(t, opts.buckets),
                    labels.binary_search(l).expect("label listed"),
                )
            })
            .collect();
        let mut m = TextClassifier {
            header: Header {
                labels,
                buckets: opts.buckets,
            },
            weights: vec![0.0; opts.buckets as usize * k],
            bias: vec![0.0; k],
        };
        let mut per_label = vec![0usize; k];
        for (_, y) in &data {
            per_label[*y] += 1;
        }
        let class_weight: Vec<f32> = per_label
            .iter()
            .map(|&n| {
                if opts.balanced {
                    data.len() as f32 / (k * n) as f32
                } else {
                    1.0
                }
            })
            .collect();
        let total = (opts.epochs * data.len()) as f32;
        let mut step = 0f32;
        let mut p = vec![0f32; k];
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = opts.seed | 1;
        for _ in 0..opts.epochs {
            // Deterministic Fisher-Yates shuffle (xorshift64) so labels are interleaved.
            for i in (1..order.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            for (feats, y) in order.iter().map(|&i| &data[i]) {
                let lr = opts.learning_rate * (1.0 - step / total) * class_weight[*y];
                step += 1.0;
                if feats.is_empty() {
                    continue;
                }
                m.logits(feats, &mut p);
                softmax(&mut p);
                let scale = lr / (feats.len() as f32).sqrt();
                for (c, pc) in p.iter().enumerate() {
                    let g = pc - if c == *y { 1.0 } else { 0.0 };
                    m.bias[c] -= lr * g;
                    for &f in feats {
                        m.weights[f as usize * k + c] -= scale * g;
                    }
                }
            }
        }
        Ok(m)
    }

    fn logits(&self, feats: &[u32], out: &mut [f32]) {
        let k = self.bias.len();
        out.copy_from_slice(&self.bias);
        if feats.is_empty() {
            return;
        }
        // Features are L2-normalised: each of n features has value 1/sqrt(n).
        let inv = 1.0 / (feats.len() as f32).sqrt();
        for &f in feats {
            let row = &self.weights[f as usize * k..f as usize * k + k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * inv;
            }
        }
    }

    /// Every label's probability, in [`labels`](Self::labels) order.
    pub fn probs(&self, text: &str) -> Vec<f32> {
        let mut p = vec![0f32; self.bias.len()];
        self.logits(&features(text, self.header.buckets), &mut p);
        softmax(&mut p);
        p
    }

    /// Best label and its probability.
    pub fn predict(&self, text: &str) -> (&str, f32) {
        let (i, v) = best(&self.probs(text));
        (&self.header.labels[i], v)
    }

    /// Writes the model atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), ClassifierError> {
        let io = |source| ClassifierError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = pipeline::writer::tmp_path(path);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let header = serde_json::to_vec(&self.header).expect("serializes");
        f.write_all(MAGIC).map_err(io)?;
        f.write_all(&(header.len() as u32).to_le_bytes())
            .map_err(io)?;
        f.write_all(&header).map_err(io)?;
        for v in self.weights.iter().chain(&self.bias) {
            f.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        f.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
        pipeline::durable::rename_durable(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Self, ClassifierError> {
        let bad = |reason: &str| ClassifierError::BadModel {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| ClassifierError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("wrong magic"))?;
        if rest.len() < 4 {
            return Err(bad("truncated header"));
        }
        let hlen = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let header: Header = serde_json::from_slice(
            rest.get(4..4 + hlen)
                .ok_or_else(|| bad("truncated header"))?,
        )
        .map_err(|e| bad(&e.to_string()))?;
        if header.buckets == 0 {
            return Err(bad("buckets = 0 (a model has at least one feature bucket)"));
        }
        let k = header.labels.len();
        let n = header.buckets as usize * k + k;
        let body = &rest[4 + hlen..];
        if body.len() != n * 4 || k < 2 {
            return Err(bad(&format!(
                "expected {} weight bytes, found {}",
                n * 4,
                body.len()
            )));
        }
        let vals: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let (weights, bias) = vals.split_at(n - k);
        Ok(TextClassifier {
            header,
            weights: weights.to_vec(),
            bias: bias.to_vec(),
        })
    }
}

/// Labelled examples read from JSON lines, and the lines skipped.
#[derive(Debug, Default)]
pub struct Labelled {
    pub examples: Vec<(String, String)>,
    /// Lines that are not an object with a string text and label (or not JSON at all).
    pub skipped: u64,
    /// Why the first skipped line was skipped, with its file and line.
    pub first_skipped: Option<String>,
}

/// Reads labelled JSON lines (plain, .gz or .zst, through the pipeline's [`JsonLines`]): one
/// object with a text and a label field per line. Bad lines are skipped and counted.
///
/// [`JsonLines`]: pipeline::reader::JsonLines
pub fn read_labelled(
    path: &Path,
    text_field: &str,
    label_field: &str,
) -> Result<Labelled, ClassifierError> {
    if !path.is_file() {
        return Err(ClassifierError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let mut lines =
        pipeline::reader::JsonLines::open(path.to_path_buf(), path.display().to_string());
    let mut out = Labelled::default();
    let field =
        |v: &serde_json::Value, f: &str| v.get(f).and_then(|t| t.as_str()).map(str::to_string);
    while let Some(r) = lines.next_record(&mut Default::default()) {
        let why = match r {
            Ok((line, v)) => match (field(&v, text_field), field(&v, label_field)) {
                (Some(t), Some(l)) => {
                    out.examples.push((t, l));
                    continue;
                }
                (None, _) => format!("{}:{line}: no string field '{text_field}'", path.display()),
                (_, None) => format!("{}:{line}: no string field '{label_field}'", path.display()),
            },
            Err(q) => q.detail,
        };
        out.skipped += 1;
        out.first_skipped.get_or_insert(why);
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelabelMode {
    Always,
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierStageConfig {
    pub model: String,
    /// Predictions below this probability leave `domain` unchanged and count as no label.
    #[serde(default)]
    pub min_prob: f32,
    /// Write the predicted label into `domain`.
    #[serde(default = "never")]
    pub relabel: RelabelMode,
    /// Keep only documents predicted (above min_prob) as one of these (empty: keep all).
    #[serde(default)]
    pub keep: Vec<String>,
    /// A label whose probability becomes a column (`__label__` prefix optional): DCLM's
    /// `score_label = "hq"` with `score_column = "quality"`.
    #[serde(default)]
    pub score_label: Option<String>,
    #[serde(default = "score_column")]
    pub score_column: String,
    /// Drop documents whose `score_label` probability is below this (`classifier.low_score`).
    #[serde(default)]
    pub min_score: Option<f32>,
}

fn score_column() -> String {
    "classifier_score".into()
}

/// A classifier model: sluice's own (`SLUICECLS1`) or a fastText `.bin`/`.ftz`, told apart
/// by the file's first bytes.
pub enum Model {
    Sluice(TextClassifier),
    FastText(Box<crate::fasttext::FastText>),
}

impl Model {
    pub fn load(path: &Path) -> Result<Model, ClassifierError> {
        Ok(match crate::fasttext::is_fasttext(path) {
            true => Model::FastText(Box::new(crate::fasttext::FastText::load(path)?)),
            false => Model::Sluice(TextClassifier::load(path)?),
        })
    }

    pub fn labels(&self) -> Vec<String> {
        match self {
            Model::Sluice(m) => m.labels().to_vec(),
            Model::FastText(m) => m.labels(),
        }
    }

    /// Every label's probability, in [`labels`](Self::labels) order. fastText sees the text
    /// as one line (new lines separate words as spaces do, as DCLM and datatrove feed it).
    pub fn probs(&self, text: &str) -> Vec<f32> {
        match self {
            Model::Sluice(m) => m.probs(text),
            Model::FastText(m) => {
                let mut p = vec![0f32; m.num_labels()];
                for (i, v) in m.predict_ids(text, p.len(), 0.0) {
                    p[i] = v;
                }
                p
            }
        }
    }
}

fn never() -> RelabelMode {
    RelabelMode::Never
}

pub struct ClassifierStage {
    c: ClassifierStageConfig,
    model: Model,
    labels: Vec<String>,
    /// The index of `score_label` among the labels.
    score: Option<usize>,
}

pub(crate) fn build(table: toml::Table, env: &StageEnv) -> Result<StageKind, String> {
    let mut c: ClassifierStageConfig = parse_stage_table(table)?;
    let model = Model::load(&env.resolve(&c.model)).map_err(|e| format!("model: {e}"))?;
    let labels = model.labels();
    let known = |what: &str, k: &str| -> Result<usize, String> {
        let k = k.strip_prefix("__label__").unwrap_or(k);
        labels.iter().position(|l| l == k).ok_or_else(|| {
            format!(
                "{what} names '{k}', which the model does not know (labels: {})",
                labels.join(", ")
            )
        })
    };
    for k in &mut c.keep {
        *k = labels[known("keep", k)?].clone();
    }
    let score = c
        .score_label
        .as_deref()
        .map(|l| known("score_label", l))
        .transpose()?;
    if c.min_score.is_some() && score.is_none() {
        return Err("min_score needs score_label (the label whose probability it bounds)".into());
    }
    Ok(StageKind::Stream(Box::new(RowAdapter::new(
        ClassifierStage {
            c,
            model,
            labels,
            score,
        },
    ))))
}

impl RowStage for ClassifierStage {
    fn name(&self) -> &str {
        "classifier"
    }

    fn columns(&self) -> Vec<(String, ColumnType)> {
        let mut c = vec![
            ("classifier_label".into(), ColumnType::Utf8),
            ("classifier_prob".into(), ColumnType::Float32),
            (DOMAIN.into(), ColumnType::Utf8),
        ];
        if self.score.is_some() {
            c.push((self.c.score_column.clone(), ColumnType::Float32));
        }
        c
    }

    fn reads_domain(&self) -> bool {
        true
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let probs = self.model.probs(doc.text);
        let (i, p) = best(&probs);
        let label = self.labels[i].as_str();
        out.str(0, label);
        out.f32(1, Some(p));
        let confident = p >= self.c.min_prob;
        let relabel = confident && self.c.relabel == RelabelMode::Always;
        out.str(2, if relabel { label } else { doc.domain });
        let score = self.score.map(|s| (s, probs[s]));
        if let Some((_, v)) = score {
            out.f32(3, Some(v));
        }
        let wanted = self.c.keep.is_empty() || confident && self.c.keep.iter().any(|k| k == label);
        if !wanted {
            return Verdict::drop_with("classifier.not_kept", format!("{label} {p:.2}"));
        }
        match (score, self.c.min_score) {
            (Some((s, v)), Some(min)) if v < min => Verdict::drop_with(
                "classifier.low_score",
                format!("{} {v:.4} < {min}", self.labels[s]),
            ),
            _ => Verdict::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A malformed line, a line without the label and a non-object are skipped and
    /// counted, with the first one's file and line; the good lines around them are read.
    #[test]
    fn bad_lines_are_skipped_not_fatal() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"text\": \"a\", \"label\": \"x\"}\n{broken\n{\"text\": \"b\"}\n[1]\n{\"text\": \"c\", \"label\": \"y\"}\n").unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        let r = read_labelled(&p, "text", "label").unwrap();
        let want = vec![("a".to_string(), "x".to_string()), ("c".into(), "y".into())];
        assert_eq!(r.examples, want);
        assert_eq!(r.skipped, 3);
        assert!(r
            .first_skipped
            .unwrap()
            .ends_with("l.jsonl.gz:2: key must be a string at line 1 column 2"));
    }

    /// Bundled fortunes of three categories; every 5th held out.
    type Examples = Vec<(String, String)>;

    fn fortunes() -> (Examples, Examples) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../datasets/data/default/fortunes.jsonl.gz");
        let all = read_labelled(&path, "text", "domain").unwrap().examples;
        let picked: Vec<_> = all
            .into_iter()
            .filter(|(_, l)| ["computers", "food", "sports"].contains(&l.as_str()))
            .collect();
        let (mut train, mut test) = (vec![], vec![]);
        for (i, e) in picked.into_iter().enumerate() {
            if i % 5 == 0 {
                test.push(e)
            } else {
                train.push(e)
            }
        }
        (train, test)
    }

    #[test]
    fn learns_real_categories_and_round_trips() {
        let (train, test) = fortunes();
        let m = TextClassifier::train(&train, &TrainOptions::default()).unwrap();
        let correct = test.iter().filter(|(t, l)| m.predict(t).0 == l).count();
        let acc = correct as f64 / test.len() as f64;
        let majority = ["computers", "food", "sports"]
            .iter()
            .map(|c| test.iter().filter(|(_, l)| l == c).count())
            .max()
            .unwrap() as f64
            / test.len() as f64;
        eprintln!("held-out accuracy {acc:.3}, majority baseline {majority:.3}");
        assert!(
            acc > majority + 0.05,
            "held-out accuracy {acc:.3} vs majority {majority:.3}"
        );
        // Not a majority-class predictor: every category is recognised well above chance.
        for c in ["computers", "food", "sports"] {
            let of_c: Vec<_> = test.iter().filter(|(_, l)| l == c).collect();
            let hit = of_c.iter().filter(|(t, _)| m.predict(t).0 == c).count();
            let recall = hit as f64 / of_c.len() as f64;
            assert!(recall > 0.4, "{c}: recall {recall:.2}");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        m.save(&p).unwrap();
        assert_eq!(TextClassifier::load(&p).unwrap(), m);
        std::fs::write(&p, b"garbage").unwrap();
        assert!(TextClassifier::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not a sluice classifier"));
    }

    /// A model file claiming zero buckets is refused at load, not a panic on the first text.
    #[test]
    fn zero_buckets_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.cls");
        let header = br#"{"labels":["a","b"],"buckets":0}"#;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0u8; 8]); // the two biases
        std::fs::write(&p, bytes).unwrap();
        let Err(err) = TextClassifier::load(&p) else {
            panic!("a model with zero buckets was accepted");
        };
        let err = err.to_string();
        assert!(err.contains("buckets = 0"), "{err}");
    }

    #[test]
    fn chinese_features_are_per_character() {
        assert_eq!(features("股票", 1 << 20).len(), 3);
        assert_eq!(features("stock market", 1 << 20).len(), 3);
    }
}

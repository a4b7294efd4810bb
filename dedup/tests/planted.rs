//! Planted near-duplicates in real English (fortunes) and Chinese (Tang poems) text: edited
//! copies at a spread of Jaccard similarities. The `minhash_dedup` barrier, run over several
//! shards through its observer → resolve → applier phases, must find the documents that a
//! brute-force exact-Jaccard pass would remove, with precision and recall ≥ 0.95.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use dedup::shingle::{jaccard, shingles, ShingleKind};
use dedup::{KeepRule, MinHashConfig, MinHashDedup, UnionFind, Verify};
use pipeline::testing::{batch_with_ids, run_barrier};
use pipeline::StageOutput;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fortunes() -> Vec<String> {
    let p = datasets::data_dir().join("default/fortunes.jsonl.gz");
    let f = std::fs::File::open(p).unwrap();
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

fn poems() -> Vec<String> {
    let p = datasets::data_dir().join("default/tang-poems.parquet");
    let f = std::fs::File::open(p).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = vec![];
    for b in r {
        let b = b.unwrap();
        let t = b
            .column_by_name("text")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        out.extend((0..t.len()).map(|i| t.value(i).to_string()));
    }
    out
}

/// Base documents (groups of `per` consecutive texts) plus edited copies of some of them,
/// placed after all bases. `unit` splits a text into edit units (words or characters).
fn corpus(texts: &[String], per: usize, bases: usize, chinese: bool, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut docs: Vec<String> = texts
        .chunks(per)
        .take(bases)
        .map(|c| c.join("\n"))
        .collect();
    let vocab: Vec<String> = if chinese {
        docs.iter()
            .flat_map(|d| d.chars().map(String::from))
            .collect()
    } else {
        docs.iter()
            .flat_map(|d| d.split_whitespace().map(String::from))
            .collect()
    };
    // Per-unit substitution rates: a word edit changes up to 5 word 5-grams, a character
    // edit up to 5 character 5-grams, so these spread the copies from J = 1 to J < 0.5.
    let rates: &[f64] = if chinese {
        &[0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08]
    } else {
        &[0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.15]
    };
    let mut copies = vec![];
    for (k, base) in docs.iter().enumerate() {
        if k % 3 != 0 {
            continue;
        }
        let rate = rates[rng.below(rates.len())];
        let units: Vec<String> = if chinese {
            base.chars().map(String::from).collect()
        } else {
            base.split_whitespace().map(String::from).collect()
        };
        let edited: Vec<String> = units
            .into_iter()
            .map(|u| {
                if (rng.next() % 10_000) as f64 / 10_000.0 < rate {
                    vocab[rng.below(vocab.len())].clone()
                } else {
                    u
                }
            })
            .collect();
        copies.push(edited.join(if chinese { "" } else { " " }));
    }
    docs.extend(copies);
    docs
}

/// The documents a keep-first pass over exact-Jaccard components at `t` removes.
fn truth(docs: &[String], kind: ShingleKind, n: usize, t: f64) -> BTreeSet<usize> {
    let sets: Vec<Vec<u32>> = docs.iter().map(|d| shingles(d, kind, n)).collect();
    let uf = UnionFind::new(docs.len());
    for i in 0..docs.len() {
        for j in i + 1..docs.len() {
            if !sets[i].is_empty() && !sets[j].is_empty() && jaccard(&sets[i], &sets[j]) >= t {
                uf.union(i as u32, j as u32);
            }
        }
    }
    (0..docs.len())
        .filter(|&i| uf.find(i as u32) != i as u32)
        .collect()
}

/// Runs the barrier over `shards` contiguous shards, in batches of 37; returns removed
/// indices and the survivor named for each.
fn run(
    docs: &[String],
    cfg: MinHashConfig,
    shards: usize,
) -> (BTreeSet<usize>, HashMap<usize, String>) {
    let dir = tempfile::tempdir().unwrap();
    let dd = MinHashDedup::new(cfg).unwrap();
    let ids: Vec<String> = (0..docs.len()).map(|i| format!("doc{i}")).collect();
    let rows: Vec<(&str, &str)> = ids
        .iter()
        .zip(docs)
        .map(|(i, t)| (i.as_str(), t.as_str()))
        .collect();
    let per = docs.len().div_ceil(shards);
    let batches: Vec<Vec<RecordBatch>> = rows
        .chunks(per)
        .map(|shard| shard.chunks(37).map(batch_with_ids).collect())
        .collect();
    let out = run_barrier(&dd, dir.path(), &batches, 2).unwrap();
    let mut removed = BTreeSet::new();
    let mut survivor = HashMap::new();
    for (idx, (keep, detail, cluster)) in out.iter().flatten().flat_map(decisions).enumerate() {
        if !keep {
            removed.insert(idx);
            // The survivor's id and its source file (batch_with_ids' is "s").
            assert_eq!(detail, format!("near-duplicate of {cluster} (s)"));
            survivor.insert(idx, cluster);
        }
    }
    (removed, survivor)
}

/// (kept, detail, dup_cluster) of each row of an applied batch.
fn decisions(out: &StageOutput) -> Vec<(bool, String, String)> {
    let cl = out
        .batch
        .column_by_name("dup_cluster")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..out.keep.len())
        .map(|i| {
            let detail = if out.detail.is_null(i) {
                ""
            } else {
                out.detail.value(i)
            };
            (
                out.keep.value(i),
                detail.to_string(),
                cl.value(i).to_string(),
            )
        })
        .collect()
}

fn score(found: &BTreeSet<usize>, want: &BTreeSet<usize>) -> (f64, f64) {
    let hit = found.intersection(want).count() as f64;
    (
        if found.is_empty() {
            1.0
        } else {
            hit / found.len() as f64
        },
        if want.is_empty() {
            1.0
        } else {
            hit / want.len() as f64
        },
    )
}

fn check(name: &str, docs: &[String], mut cfg: MinHashConfig) {
    let want = truth(docs, cfg.shingle, cfg.ngram, cfg.threshold);
    assert!(
        want.len() >= 30,
        "{name}: only {} true duplicates planted",
        want.len()
    );
    for verify in [Verify::Exact, Verify::Signature, Verify::None] {
        cfg.verify = verify;
        let (found, _) = run(docs, cfg.clone(), 5);
        let (p, r) = score(&found, &want);
        eprintln!(
            "{name} verify={verify:?}: {} docs, {} true dups, found {}, precision {p:.3} recall {r:.3}",
            docs.len(),
            want.len(),
            found.len()
        );
        if verify == Verify::None {
            // Unverified LSH also takes pairs somewhat below the threshold (the S-curve
            // printed by `sluice minhash-params`); only recall is promised.
            assert!(r >= 0.95, "{name} {verify:?}: recall {r}");
        } else if verify == Verify::Signature {
            // The signature's estimate is itself noisy around the threshold.
            assert!(
                p >= 0.9 && r >= 0.9,
                "{name} {verify:?}: precision {p} recall {r}"
            );
        } else {
            assert!(
                p >= 0.95 && r >= 0.95,
                "{name} {verify:?}: precision {p} recall {r}"
            );
        }
    }
}

#[test]
fn english_planted_near_duplicates() {
    let docs = corpus(&fortunes(), 6, 450, false, 11);
    check("english", &docs, MinHashConfig::default());
}

#[test]
fn chinese_planted_near_duplicates() {
    let docs = corpus(&poems(), 3, 200, true, 5);
    let cfg = MinHashConfig {
        shingle: ShingleKind::Char,
        ngram: 5,
        ..MinHashConfig::default()
    };
    check("chinese", &docs, cfg);
}

#[test]
fn shard_count_does_not_change_the_result() {
    let docs = corpus(&fortunes(), 6, 200, false, 3);
    let cfg = MinHashConfig::default();
    let one = run(&docs, cfg.clone(), 1);
    let seven = run(&docs, cfg, 7);
    assert_eq!(one, seven);
    assert!(!one.0.is_empty());
}

#[test]
fn keep_longest_keeps_the_longest_member() {
    let base = fortunes()[..40].join("\n");
    let longer = format!("{base}\nAnd one more closing line of text here.");
    let docs = vec![base.clone(), "unrelated words entirely here".into(), longer];
    let cfg = MinHashConfig {
        keep: KeepRule::Longest,
        ..MinHashConfig::default()
    };
    let (removed, survivor) = run(&docs, cfg, 2);
    assert_eq!(removed, BTreeSet::from([0]));
    assert_eq!(survivor[&0], "doc2");
    let _ = Arc::new(0);
}

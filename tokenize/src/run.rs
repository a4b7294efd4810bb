//! The tokenize phase of a run. Each shard of the last phase encodes the documents it
//! curates where it runs ([`crate::parts`]: every rank and worker); once all are done, rank 0
//! replays those token ids in curated-file order (`OUT/curated/*.parquet`), packs each
//! domain's token stream and writes `OUT/shards/<domain>/part-NNNNN.arrow` and, last and
//! atomically, `OUT/manifest.json`. A curated file without a sound token part is encoded here
//! (parallel, batched, order fixed); both ways give the same bytes. A run whose manifest
//! matches its config is complete; an interrupted one is redone from the start of this phase
//! (the curated documents and parts are already on disk), giving the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pipeline::document::{str_column, DOMAIN, TEXT};
use pipeline::{FinishStep, StageEnv, StageRegistry};
use serde::{Deserialize, Serialize};

use crate::error::TokenizeError;
use crate::manifest::{DomainShards, Manifest, TokenizerInfo};
use crate::packer::Packer;
use crate::parts::{part_checks_out, replay_part, TokenPart};
use crate::shards::{domain_dir_name, DomainShardWriter};
use crate::vocab::{encode_texts, Tok};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Remainder {
    /// Pad each domain's last partial row (its `valid_len` tells the trainer where).
    Pad,
    /// Drop each domain's last partial row (loses fewer than `seq_len + 1` tokens per domain).
    Drop,
}

/// The `[tokenize]` table of a pipeline config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeConfig {
    /// A tokenizer.json, relative to the config file.
    pub tokenizer: String,
    #[serde(default = "default_eos")]
    pub eos_token: String,
    /// Defaults to the EOS token.
    pub pad_token: Option<String>,
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Target tokens per shard file.
    #[serde(default = "default_shard_tokens")]
    pub shard_tokens: u64,
    #[serde(default = "default_remainder")]
    pub remainder: Remainder,
    /// Documents encoded per parallel batch.
    #[serde(default = "default_batch_docs")]
    pub batch_docs: usize,
}

/// The longest row a run may pack (each row is held in memory while it fills).
pub const MAX_SEQ_LEN: usize = 1 << 20;

fn default_eos() -> String {
    "<|endoftext|>".into()
}
fn default_seq_len() -> usize {
    1024
}
fn default_shard_tokens() -> u64 {
    1 << 24
}
fn default_remainder() -> Remainder {
    Remainder::Pad
}
fn default_batch_docs() -> usize {
    1024
}

impl TokenizeConfig {
    pub fn from_table(table: toml::Table) -> Result<Self, TokenizeError> {
        let c: TokenizeConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| TokenizeError::Config(e.message().to_string()))?;
        if c.seq_len == 0 || c.seq_len > MAX_SEQ_LEN {
            return Err(TokenizeError::Config(format!(
                "seq_len = {} must be between 1 and {MAX_SEQ_LEN} tokens",
                c.seq_len
            )));
        }
        if c.batch_docs == 0 || c.shard_tokens == 0 {
            return Err(TokenizeError::Config(
                "batch_docs and shard_tokens must be at least 1".into(),
            ));
        }
        Ok(c)
    }
}

fn curated_files(dir: &Path) -> Result<Vec<PathBuf>, TokenizeError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(TokenizeError::io(dir, e)),
    };
    files.sort();
    Ok(files)
}

/// Records `domain`'s shard directory; two domains on one directory are refused (only a
/// label equal to another's sanitised name plus its hash could do that).
fn claim_dir(dirs: &mut BTreeMap<String, String>, domain: &str) -> Result<(), TokenizeError> {
    let dir = domain_dir_name(domain);
    match dirs.get(&dir) {
        Some(other) => Err(TokenizeError::Config(format!(
            "domains '{other}' and '{domain}' would share the shard directory shards/{dir}; \
             rename one of them"
        ))),
        None => {
            dirs.insert(dir, domain.to_string());
            Ok(())
        }
    }
}

/// The `[tokenize]` section as the run's [`FinishStep`]: the settings and the tokenizer,
/// both loaded and checked with the config, before any work starts.
pub struct TokenizeStep {
    pub config: TokenizeConfig,
    pub tok: std::sync::Arc<Tok>,
}

impl TokenizeStep {
    /// Builds the step from its table; the tokenizer file joins the run's fingerprint.
    pub fn build(table: toml::Table, env: &StageEnv) -> Result<Box<dyn FinishStep>, String> {
        let config = TokenizeConfig::from_table(table).map_err(|e| e.to_string())?;
        let path = env.resolve(&config.tokenizer);
        let tok = Tok::load(&path, &config.eos_token, config.pad_token.as_deref())
            .map_err(|e| e.to_string())?;
        let tok = std::sync::Arc::new(tok);
        Ok(Box::new(TokenizeStep { config, tok }))
    }
}

impl FinishStep for TokenizeStep {
    fn name(&self) -> &str {
        "tokenize"
    }

    /// Each shard encodes its own curated documents where it runs.
    fn shard_part(&self) -> Option<Box<dyn pipeline::FinishPart>> {
        Some(Box::new(TokenPart::new(self.tok.clone())))
    }

    fn run(&self, out: &Path, workers: usize) -> Result<(), String> {
        let seq_len = self.config.seq_len;
        tracing::info!("tokenizing and packing curated documents (seq_len {seq_len})");
        let m =
            tokenize_curated(out, &self.config, &self.tok, workers).map_err(|e| e.to_string())?;
        let tokens: u64 = m.domains.values().map(|d| d.tokens).sum();
        tracing::info!("packed {tokens} tokens in {} domains", m.domains.len());
        Ok(())
    }
}

/// Adds the `[tokenize]` step to `registry`.
pub fn register(registry: &mut StageRegistry) {
    registry.register_finish("tokenize", TokenizeStep::build);
}

/// Each domain's packer and shard writer, filled document by document in curated order.
struct Packing<'a> {
    domains: BTreeMap<String, (Packer, DomainShardWriter)>,
    dirs: BTreeMap<String, String>,
    rows: Vec<crate::PackedRow>,
    out: &'a Path,
    row_len: usize,
    rows_per_shard: u64,
    eos_id: u32,
}

impl Packing<'_> {
    fn push(&mut self, d: &str, ids: &[u32]) -> Result<(), TokenizeError> {
        if !self.domains.contains_key(d) {
            claim_dir(&mut self.dirs, d)?;
            let packer = Packer::new(self.row_len, self.eos_id);
            let writer = DomainShardWriter::new(self.out, d, self.row_len, self.rows_per_shard);
            self.domains.insert(d.to_string(), (packer, writer));
        }
        let (packer, writer) = self.domains.get_mut(d).expect("inserted above");
        packer.push(ids, &mut self.rows);
        for r in self.rows.drain(..) {
            writer.push(r)?;
        }
        Ok(())
    }
}

/// The number of rows of a Parquet file (from its footer).
fn parquet_rows(file: &Path) -> Result<u64, TokenizeError> {
    let f = std::fs::File::open(file).map_err(|e| TokenizeError::io(file, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| TokenizeError::Arrow {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(b.metadata().file_metadata().num_rows() as u64)
}

/// Encodes one curated file's documents here (a shard without its token part).
fn encode_file(
    file: &Path,
    cfg: &TokenizeConfig,
    tok: &Tok,
    pool: &rayon::ThreadPool,
    packing: &mut Packing<'_>,
) -> Result<(), TokenizeError> {
    let arrow_err = |message: String| TokenizeError::Arrow {
        path: file.to_path_buf(),
        message,
    };
    let f = std::fs::File::open(file).map_err(|e| TokenizeError::io(file, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.with_batch_size(cfg.batch_docs).build())
        .map_err(|e| arrow_err(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| arrow_err(e.to_string()))?;
        let text = str_column(&batch, TEXT).map_err(|e| arrow_err(e.to_string()))?;
        let domain = str_column(&batch, DOMAIN).map_err(|e| arrow_err(e.to_string()))?;
        let encoded = pool.install(|| encode_texts(tok, text))?;
        for (i, ids) in encoded.iter().enumerate() {
            packing.push(domain.value(i), ids)?;
        }
    }
    Ok(())
}

/// Tokenizes and packs `out/curated` into `out/shards` + `out/manifest.json`.
pub fn tokenize_curated(
    out: &Path,
    cfg: &TokenizeConfig,
    tok: &Tok,
    workers: usize,
) -> Result<Manifest, TokenizeError> {
    let row_len = cfg.seq_len + 1;
    let rows_per_shard = cfg.shard_tokens.div_ceil(row_len as u64);
    let layout = pipeline::OutputLayout::new(out);
    let shards_dir = layout.shards_dir();
    if shards_dir.exists() {
        std::fs::remove_dir_all(&shards_dir).map_err(|e| TokenizeError::io(&shards_dir, e))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .build()
        .map_err(|e| TokenizeError::Config(format!("cannot start {workers} threads: {e}")))?;
    let mut packing = Packing {
        domains: BTreeMap::new(),
        dirs: BTreeMap::new(),
        rows: Vec::new(),
        out,
        row_len,
        rows_per_shard,
        eos_id: tok.eos_id,
    };
    let (mut from_parts, mut encoded) = (0usize, 0usize);
    for file in curated_files(&layout.curated_dir())? {
        let part = pipeline::OutputLayout::curated_shard(&file).map(|s| layout.finish_part(s));
        let part = part.filter(|p| {
            p.exists() && parquet_rows(&file).is_ok_and(|n| part_checks_out(p, &tok.file_hash, n))
        });
        match part {
            Some(p) => {
                replay_part(&p, |d, ids| packing.push(d, ids))?;
                from_parts += 1;
            }
            None => {
                encode_file(&file, cfg, tok, &pool, &mut packing)?;
                encoded += 1;
            }
        }
    }
    tracing::info!(
        "packed {from_parts} curated files from the tokens their shards encoded, \
         encoded {encoded} here"
    );
    let domains = packing.domains;
    let mut manifest = Manifest {
        format_version: Manifest::FORMAT_VERSION,
        tokenizer: TokenizerInfo {
            path: tok
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            xxh3_128: tok.file_hash.clone(),
            vocab_size: tok.vocab_size,
            eos_id: tok.eos_id,
            pad_id: tok.pad_id,
        },
        seq_len: cfg.seq_len as u32,
        row_len: row_len as u32,
        remainder: match cfg.remainder {
            Remainder::Pad => "pad",
            Remainder::Drop => "drop",
        }
        .into(),
        domains: BTreeMap::new(),
    };
    for (name, (packer, mut writer)) in domains {
        let docs = packer.docs();
        if cfg.remainder == Remainder::Pad {
            if let Some(r) = packer.finish(tok.pad_id) {
                writer.push(r)?;
            }
        }
        let shards = writer.finish()?;
        manifest.domains.insert(
            name,
            DomainShards {
                rows: shards.iter().map(|s| s.rows).sum(),
                tokens: shards.iter().map(|s| s.tokens).sum(),
                docs,
                shards,
            },
        );
    }
    let path = layout.manifest();
    let bytes = serde_json::to_vec_pretty(&manifest).expect("serializes");
    pipeline::durable::write_atomic(&path, &bytes).map_err(|e| TokenizeError::io(&path, e))?;
    Ok(manifest)
}

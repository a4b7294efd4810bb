//! Loading a `tokenizer.json` (any model the `tokenizers` crate reads: BPE, WordPiece, ...)
//! and training a byte-level BPE.

use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray};
use rayon::prelude::*;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use crate::error::TokenizeError;

/// A loaded tokenizer with what the manifest records about it.
pub struct Tok {
    pub inner: Tokenizer,
    pub path: PathBuf,
    /// xxh3-128 of the tokenizer file's bytes, hex.
    pub file_hash: String,
    pub vocab_size: u32,
    pub eos_id: u32,
    pub eos_token: String,
    pub pad_id: u32,
}

impl Tok {
    /// Loads `path`; `eos_token` must be in the vocabulary; `pad_token` defaults to EOS.
    pub fn load(
        path: &Path,
        eos_token: &str,
        pad_token: Option<&str>,
    ) -> Result<Self, TokenizeError> {
        let bytes = std::fs::read(path).map_err(|e| TokenizeError::io(path, e))?;
        let err = |message: String| TokenizeError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let inner = Tokenizer::from_bytes(&bytes)
            .map_err(|e| err(format!("not a readable tokenizer.json: {e}")))?;
        let eos_id = inner.token_to_id(eos_token).ok_or_else(|| {
            err(format!(
                "has no token '{eos_token}'; set eos_token to its end-of-text token"
            ))
        })?;
        let pad_id = match pad_token {
            Some(p) => inner
                .token_to_id(p)
                .ok_or_else(|| err(format!("has no token '{p}'; set pad_token to one it has")))?,
            None => eos_id,
        };
        Ok(Tok {
            vocab_size: inner.get_vocab_size(true) as u32,
            file_hash: format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)),
            inner,
            path: path.to_path_buf(),
            eos_id,
            eos_token: eos_token.to_string(),
            pad_id,
        })
    }

    /// Token ids of one document (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TokenizeError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizeError> {
        self.inner
            .decode(ids, false)
            .map_err(|e| TokenizeError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }
}

/// Every text of `text` encoded, in parallel on the current rayon pool, in order.
pub fn encode_texts(tok: &Tok, text: &StringArray) -> Result<Vec<Vec<u32>>, TokenizeError> {
    (0..text.len())
        .into_par_iter()
        .map(|i| tok.encode(text.value(i)))
        .collect()
}

/// Trains a byte-level BPE (GPT-2 style) on `texts` and writes it to `out` atomically.
/// `special` tokens come first in the vocabulary, in the order given.
pub fn train_bpe<I>(
    texts: I,
    vocab_size: usize,
    special: &[String],
    out: &Path,
) -> Result<(), TokenizeError>
where
    I: Iterator<Item = String> + Send,
{
    let err = |message: String| TokenizeError::Tokenizer {
        path: out.to_path_buf(),
        message,
    };
    if vocab_size < 256 + special.len() {
        return Err(TokenizeError::Config(format!(
            "vocab size {vocab_size} is below the 256 byte tokens + {} special tokens; raise --vocab-size",
            special.len()
        )));
    }
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            special
                .iter()
                .map(|s| AddedToken::from(s.clone(), true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tok = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
        .with_decoder(Some(ByteLevelDecoder::default()))
        .build()
        .map_err(|e| err(e.to_string()))?;
    tok.train(&mut trainer, texts)
        .map_err(|e| err(e.to_string()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| TokenizeError::io(dir, e))?;
    }
    let tmp = pipeline::writer::tmp_path(out);
    tok.save(&tmp, false).map_err(|e| err(e.to_string()))?;
    pipeline::durable::commit(&tmp, out).map_err(|e| TokenizeError::io(out, e))
}

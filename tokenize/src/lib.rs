//! Tokenization and packing: loads any Hugging Face `tokenizer.json` or trains a byte-level
//! BPE, encodes curated documents in parallel, appends EOS after each document and packs the
//! token stream of each domain into fixed rows of `seq_len + 1` tokens (inputs and shifted
//! targets from one row), written as Arrow IPC **file** shards per domain with a manifest.

pub mod error;
pub mod packer;
pub mod parts;
pub mod run;
pub mod shards;
pub mod texts;
pub mod vocab;

pub use error::TokenizeError;
// The manifest format is read by the trainer's feed; tokenize writes it.
pub use feed::manifest;
pub use feed::Manifest;
pub use packer::{PackedRow, Packer};
pub use run::{register, tokenize_curated, TokenizeConfig, TokenizeStep};
pub use vocab::{train_bpe, Tok};

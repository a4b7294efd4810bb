//! Tokenization and packing: loads or trains Hugging Face tokenizers and writes packed
//! fixed-length token rows as Arrow IPC shards with a manifest.
//!
//! Not built yet (issue 5).

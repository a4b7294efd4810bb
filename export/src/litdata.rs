//! litdata's optimized format for `TokensLoader` (what `litdata.optimize(...,
//! item_loader=TokensLoader())` writes, as litdata 0.2.76's `BinaryWriter` lays it out):
//! per domain a directory of `chunk-0-K.bin` files, each `u32` item count, `u32` byte
//! offsets (count + 1) and the items' tokens back to back, and an `index.json` listing every
//! chunk's bytes, items and tokens (`dim`). Items are documents (tokens with EOS); a chunk
//! closes before the document that would take it past `chunk_tokens`. `TokensLoader` reads
//! each chunk as one token stream cut into `block_size` blocks (a chunk's tail shorter than a
//! block is not read), so chunks are made many blocks long. Mixing:
//! `CombinedStreamingDataset(datasets=[...], weights=[...])`.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::docs::DomainDocs;
use crate::error::{io, ExportError};
use crate::{commit, create, write_json, DomainReport, Dtype, Exporter, Params};

pub struct Litdata;

/// litdata's `_TORCH_DTYPES_MAPPING` index of the token type (`torch.int` is 16).
fn dtype_index(d: Dtype) -> u32 {
    match d {
        Dtype::U16 => 20,
        Dtype::I32 => 16,
    }
}

struct Chunk {
    docs: Vec<Vec<u32>>,
    tokens: usize,
}

fn write_chunk(
    dir: &Path,
    k: usize,
    c: &Chunk,
    dtype: Dtype,
) -> Result<serde_json::Value, ExportError> {
    let name = format!("chunk-0-{k}.bin");
    let path = dir.join(&name);
    let mut w = create(&path)?;
    let n = c.docs.len() as u32;
    let head = 4 * (n as usize + 2);
    let mut bytes = head;
    let mut put = |b: &[u8]| w.write_all(b).map_err(io(&path));
    put(&n.to_le_bytes())?;
    put(&(head as u32).to_le_bytes())?;
    for d in &c.docs {
        bytes += d.len() * dtype.size();
        let off = u32::try_from(bytes)
            .map_err(|_| ExportError::Invalid(format!("{name}: a chunk over 4 GiB")))?;
        put(&off.to_le_bytes())?;
    }
    for d in &c.docs {
        let mut buf = Vec::with_capacity(d.len() * dtype.size());
        for &t in d {
            dtype.write(&mut buf, t).map_err(io(&path))?;
        }
        put(&buf)?;
    }
    commit(w, &path)?;
    Ok(json!({"chunk_bytes": bytes, "chunk_size": n, "dim": c.tokens, "filename": name}))
}

impl Exporter for Litdata {
    fn name(&self) -> &'static str {
        "litdata"
    }

    fn write_domain(
        &self,
        dir: &Path,
        stem: &str,
        docs: &mut DomainDocs,
        p: &Params,
    ) -> Result<DomainReport, ExportError> {
        let (dtype, chunk_tokens) = (p.dtype, p.chunk_tokens);
        let dir = dir.join(stem);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let (mut chunks, mut report) = (Vec::new(), DomainReport::default());
        let mut cur = Chunk {
            docs: vec![],
            tokens: 0,
        };
        while let Some(doc) = docs.next_doc()? {
            if !cur.docs.is_empty() && cur.tokens + doc.len() > chunk_tokens {
                chunks.push(write_chunk(&dir, chunks.len(), &cur, dtype)?);
                cur = Chunk {
                    docs: vec![],
                    tokens: 0,
                };
            }
            report.docs += 1;
            report.tokens += doc.len() as u64;
            cur.tokens += doc.len();
            cur.docs.push(doc);
        }
        if !cur.docs.is_empty() {
            chunks.push(write_chunk(&dir, chunks.len(), &cur, dtype)?);
        }
        let index = json!({
            "chunks": chunks,
            "config": {
                "chunk_bytes": null, "chunk_size": chunk_tokens, "compression": null,
                "compression_batch_size": null, "compression_level": null,
                "data_format": [format!("no_header_tensor:{}", dtype_index(dtype))],
                "data_spec": "[1, {\"type\": null, \"context\": null, \"children_spec\": []}]",
                "encryption": null, "ipc_compression": null, "item_loader": "TokensLoader",
                "types": "tensor"
            },
            "updated_at": "0"
        });
        write_json(&dir.join("index.json"), &index)?;
        Ok(report)
    }

    fn mix_lines(&self, dir: &Path, domains: &[(String, f64)], p: &Params) -> String {
        let sets: Vec<String> = domains
            .iter()
            .map(|(s, _)| {
                format!(
                    "StreamingDataset({:?}, item_loader=TokensLoader(block_size={}))",
                    dir.join(s).display().to_string(),
                    p.row_len
                )
            })
            .collect();
        let w: Vec<String> = domains.iter().map(|(_, w)| w.to_string()).collect();
        format!(
            "CombinedStreamingDataset(datasets=[{}], weights=[{}])\n",
            sets.join(", "),
            w.join(", ")
        )
    }
}

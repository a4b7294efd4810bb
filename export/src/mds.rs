//! mosaicml-streaming's MDS shards (as its 0.13 `MDSWriter` writes them), one directory per
//! domain (one `Stream` each) with an `input_ids` column encoded `ndarray:uint16` or
//! `ndarray:int32`. A sample is one of the run's packed rows (`seq_len + 1` tokens; a
//! domain's last row without its padding), so a Composer run reads exactly the rows sluice
//! trains on. A shard (`shard.NNNNN.mds`: sample count, `u32` offsets, the writer's JSON
//! config, then each sample as its `u32` size and the encoded array) closes before a sample
//! that would take it past `chunk_tokens` tokens' worth of bytes. `index.json` lists them.
//! Mixing: `Stream(local=..., proportion=...)` per domain.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::docs::DomainDocs;
use crate::error::{io, ExportError};
use crate::{commit, create, write_json, DomainReport, Dtype, Exporter, Params};

pub struct Mds;

fn encoding(d: Dtype) -> &'static str {
    match d {
        Dtype::U16 => "ndarray:uint16",
        Dtype::I32 => "ndarray:int32",
    }
}

/// The writer's config as Python's `json.dumps(sort_keys=True)` prints it (it is part of
/// every shard file).
fn config_text(d: Dtype, size_limit: usize) -> String {
    format!(
        "{{\"column_encodings\": [\"{}\"], \"column_names\": [\"input_ids\"], \"column_sizes\": [null], \
         \"compression\": null, \"format\": \"mds\", \"hashes\": [], \"size_limit\": {size_limit}, \"version\": 2}}",
        encoding(d)
    )
}

/// One sample: the column's size, then `ndarray` with a dynamic shape: `(ndim << 2) |
/// shape dtype`, the shape in the smallest unsigned type that holds it, the values.
fn encode(row: &[u32], d: Dtype) -> Result<Vec<u8>, ExportError> {
    let n = row.len();
    let mut datum = Vec::with_capacity(n * d.size() + 10);
    match n {
        0..=0xFF => datum.extend_from_slice(&[(1 << 2), n as u8]),
        0x100..=0xFFFF => {
            datum.push((1 << 2) | 1);
            datum.extend_from_slice(&(n as u16).to_le_bytes());
        }
        _ => {
            datum.push((1 << 2) | 2);
            datum.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
    for &t in row {
        d.write(&mut datum, t)
            .map_err(|e| ExportError::Invalid(e.to_string()))?;
    }
    let mut out = (datum.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&datum);
    Ok(out)
}

fn write_shard(
    dir: &Path,
    k: usize,
    samples: &[Vec<u8>],
    config: &str,
    (encoding, size_limit): (&str, usize),
) -> Result<serde_json::Value, ExportError> {
    let name = format!("shard.{k:05}.mds");
    let path = dir.join(&name);
    let n = samples.len();
    // Each sample's start, then the end of the last, from the file's start.
    let mut offs = Vec::with_capacity(n + 1);
    let mut pos = (4 + 4 * (n + 1) + config.len()) as u64;
    offs.push(pos);
    for s in samples {
        pos += s.len() as u64;
        offs.push(pos);
    }
    let mut head = (n as u32).to_le_bytes().to_vec();
    for o in &offs {
        let o = u32::try_from(*o)
            .map_err(|_| ExportError::Invalid(format!("{name}: a shard over 4 GiB")))?;
        head.extend_from_slice(&o.to_le_bytes());
    }
    let mut w = create(&path)?;
    w.write_all(&head).map_err(io(&path))?;
    w.write_all(config.as_bytes()).map_err(io(&path))?;
    for s in samples {
        w.write_all(s).map_err(io(&path))?;
    }
    commit(w, &path)?;
    Ok(json!({
        "column_encodings": [encoding],
        "column_names": ["input_ids"], "column_sizes": [null], "compression": null,
        "format": "mds", "hashes": [],
        "raw_data": {"basename": name, "bytes": pos, "hashes": {}},
        "samples": n, "size_limit": size_limit, "version": 2, "zip_data": null
    }))
}

impl Exporter for Mds {
    fn name(&self) -> &'static str {
        "mds"
    }

    fn write_domain(
        &self,
        dir: &Path,
        stem: &str,
        docs: &mut DomainDocs,
        p: &Params,
    ) -> Result<DomainReport, ExportError> {
        let dir = dir.join(stem);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let size_limit = p.chunk_tokens * p.dtype.size();
        let config = config_text(p.dtype, size_limit);
        let (mut shards, mut cur, mut bytes) = (Vec::new(), Vec::new(), 8 + config.len());
        let flush = |shards: &mut Vec<_>, cur: &mut Vec<Vec<u8>>| -> Result<(), ExportError> {
            let meta = (encoding(p.dtype), size_limit);
            shards.push(write_shard(&dir, shards.len(), cur, &config, meta)?);
            cur.clear();
            Ok(())
        };
        let mut report = DomainReport::default();
        while let Some(row) = docs.next_row_tokens()? {
            let s = encode(&row, p.dtype)?;
            if !cur.is_empty() && size_limit < bytes + s.len() + 4 {
                flush(&mut shards, &mut cur)?;
                bytes = 8 + config.len();
            }
            bytes += s.len() + 4;
            report.samples += 1;
            report.tokens += row.len() as u64;
            cur.push(s);
        }
        if !cur.is_empty() {
            flush(&mut shards, &mut cur)?;
        }
        write_json(
            &dir.join("index.json"),
            &json!({"shards": shards, "version": 2}),
        )?;
        Ok(report)
    }

    fn mix_lines(&self, dir: &Path, domains: &[(String, f64)], _: &Params) -> String {
        let streams: Vec<String> = domains
            .iter()
            .map(|(s, w)| {
                format!(
                    "    Stream(local={:?}, proportion={w}),",
                    dir.join(s).display().to_string()
                )
            })
            .collect();
        format!("streams = [\n{}\n]\n", streams.join("\n"))
    }
}

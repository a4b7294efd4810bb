//! Megatron-LM's `IndexedDataset` (`PREFIX.bin` + `PREFIX.idx`, the `MMIDIDX` index), as
//! megatron-core 0.16's `IndexedDatasetBuilder` writes it: one sequence per document (its
//! tokens with EOS), `document_indices` 0..=N, the dtype `optimal_dtype` picks (uint16 below
//! 65,500 tokens of vocabulary, else int32) unless asked. Streaming: tokens go straight to
//! the `.bin`, lengths to a side file read back for the index, so memory does not grow with
//! the data. Mixing: Megatron's `--data-path W1 PREFIX1 W2 PREFIX2 ...`.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use crate::docs::DomainDocs;
use crate::error::{io, ExportError};
use crate::{commit, create, partial, DomainReport, Dtype, Exporter, Params};

pub struct Megatron;

const HEADER: &[u8; 9] = b"MMIDIDX\x00\x00";

fn code(d: Dtype) -> u8 {
    match d {
        Dtype::U16 => 8,
        Dtype::I32 => 4,
    }
}

impl Exporter for Megatron {
    fn name(&self) -> &'static str {
        "megatron"
    }

    fn write_domain(
        &self,
        dir: &Path,
        stem: &str,
        docs: &mut DomainDocs,
        p: &Params,
    ) -> Result<DomainReport, ExportError> {
        let dtype = p.dtype;
        let bin = dir.join(format!("{stem}.bin"));
        let lens = dir.join(format!("{stem}.lengths"));
        let mut bw = create(&bin)?;
        let mut lw = create(&lens)?;
        let mut report = DomainReport::default();
        while let Some(doc) = docs.next_doc()? {
            let len = i32::try_from(doc.len()).map_err(|_| {
                ExportError::Invalid(format!("{stem}: a document over 2^31 tokens"))
            })?;
            for &t in &doc {
                dtype.write(&mut bw, t).map_err(io(&bin))?;
            }
            lw.write_all(&len.to_le_bytes()).map_err(io(&lens))?;
            report.docs += 1;
            report.tokens += doc.len() as u64;
        }
        commit(bw, &bin)?;
        lw.flush().map_err(io(&lens))?;
        drop(lw);
        let idx = dir.join(format!("{stem}.idx"));
        write_index(&idx, &partial(&lens), report.docs, dtype)?;
        let _ = std::fs::remove_file(partial(&lens));
        Ok(report)
    }

    fn mix_lines(&self, dir: &Path, domains: &[(String, f64)], _: &Params) -> String {
        let parts: Vec<String> = domains
            .iter()
            .map(|(stem, w)| format!("{w} {}", dir.join(stem).display()))
            .collect();
        format!("--data-path {}\n", parts.join(" "))
    }
}

/// The `.idx`: header, version 1, dtype code, counts, lengths (i32), pointers (i64 byte
/// offsets into the `.bin`), document indices (i64, 0..=n).
fn write_index(idx: &Path, lens: &Path, n: u64, dtype: Dtype) -> Result<(), ExportError> {
    let mut w = create(idx)?;
    let mut put = |b: &[u8]| w.write_all(b).map_err(io(idx));
    put(HEADER)?;
    put(&1u64.to_le_bytes())?;
    put(&[code(dtype)])?;
    put(&n.to_le_bytes())?;
    put(&(n + 1).to_le_bytes())?;
    let read_lengths = |each: &mut dyn FnMut(i32) -> Result<(), ExportError>| {
        let mut r = BufReader::new(File::open(lens).map_err(io(lens))?);
        let mut b = [0u8; 4];
        for _ in 0..n {
            r.read_exact(&mut b).map_err(io(lens))?;
            each(i32::from_le_bytes(b))?;
        }
        Ok::<(), ExportError>(())
    };
    read_lengths(&mut |l| put(&l.to_le_bytes()))?;
    let mut at = 0i64;
    read_lengths(&mut |l| {
        put(&at.to_le_bytes())?;
        at += l as i64 * dtype.size() as i64;
        Ok(())
    })?;
    for d in 0..=n as i64 {
        put(&d.to_le_bytes())?;
    }
    commit(w, idx)
}

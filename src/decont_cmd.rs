//! `sluice decont index`: builds a decontamination index from evaluation files (JSONL,
//! JSONL.gz, Parquet) for the `decontaminate` stage, and says what went in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use decont::eval_files::{benchmark_name, read_items, Fields};
use decont::IndexBuilder;

#[derive(Subcommand)]
pub enum DecontCommand {
    /// Index the normalised n-grams of evaluation sets (exact: no false positives).
    Index {
        /// Evaluation files, each `PATH` (benchmark named after the file) or `NAME=PATH`.
        #[arg(long, required = true, num_args = 1..)]
        input: Vec<String>,
        #[arg(long)]
        out: PathBuf,
        /// Tokens per n-gram (words; one per CJK character).
        #[arg(long, default_value_t = 13)]
        ngram: usize,
        /// Fields whose text (joined by new lines) makes an item.
        #[arg(long, value_delimiter = ',', default_value = "text")]
        fields: Vec<String>,
        /// Fields naming an item, the first present wins (else its record number).
        #[arg(long, value_delimiter = ',', default_value = "id,task_id,question_id")]
        id_fields: Vec<String>,
    },
}

/// `NAME=PATH` or `PATH`.
fn named(arg: &str) -> (String, PathBuf) {
    match arg.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => {
            (name.to_string(), PathBuf::from(path))
        }
        _ => (benchmark_name(Path::new(arg)), PathBuf::from(arg)),
    }
}

pub fn run(cmd: DecontCommand) -> Result<()> {
    let DecontCommand::Index {
        input,
        out,
        ngram,
        fields,
        id_fields,
    } = cmd;
    anyhow::ensure!(ngram >= 1, "--ngram must be at least 1");
    let fields = Fields {
        text: fields,
        id: id_fields,
    };
    let mut b = IndexBuilder::new(ngram);
    for arg in &input {
        let (name, path) = named(arg);
        let (mut items, mut empty, before) = (0u64, 0u64, b.too_short);
        read_items(&path, &fields, &mut |item| {
            match item.text.trim().is_empty() {
                true => empty += 1,
                false => items += u64::from(b.add(&name, &item.id, &item.text)?),
            }
            Ok(())
        })
        .with_context(|| format!("reading {}", path.display()))?;
        println!(
            "{name}: {items} items indexed, {} shorter than {ngram} tokens, {empty} without \
             the fields {:?} ({})",
            b.too_short - before,
            fields.text,
            path.display()
        );
    }
    let (items, entries) = (b.items(), b.entries());
    b.write(&out)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {}: {items} items, {entries} {ngram}-grams",
        out.display()
    );
    Ok(())
}
